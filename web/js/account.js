// Who the key belongs to and this month's usage against the budget.
import { call } from './api.js';
import { $, el } from './dom.js';

function figure(n, digits = 0) {
  return Number(n).toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function row(label, part, digits) {
  const limit = part.limit === null ? 'no limit' : figure(part.limit, digits);
  return [el('dt', {}, label), el('dd', {}, `${figure(part.used, digits)} of ${limit}`)];
}

/** Loads /me and /usage into the page; throws (e.g. 401) for the caller to report. */
export async function loadAccount() {
  const [me, usage] = await Promise.all([call('GET', '/api/v1/me'), call('GET', '/api/v1/usage')]);
  $('who-name').textContent = me.name;
  const b = me.budget;
  const period = b ? `${b.period.from.slice(0, 10)} to ${b.period.to.slice(0, 10)}` : 'this month';
  $('budget').replaceChildren(
    el('dt', {}, 'Period'), el('dd', {}, period),
    ...(b ? [
      ...row('LLM tokens', b.llm_tokens, 0),
      ...row('TTS characters', b.tts_characters, 0),
      ...row('Cost (USD)', b.usd, 2),
    ] : []),
    el('dt', {}, 'Estimated cost this month'), el('dd', {}, `$${figure(usage.estimated_cost_usd, 4)}`),
  );
  return me;
}
