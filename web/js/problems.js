// Failures in plain words: what happened (the server's own message, which is written for a
// person) and what to do next (by status and code).
import { ApiError } from './api.js';
import { $, show } from './dom.js';

function nextStep(err) {
  if (!(err instanceof ApiError)) return 'Reload the page and try again.';
  const wait = err.retryAfter ? `in ${err.retryAfter} seconds` : 'in a minute';
  switch (err.status) {
    case 0: return 'Check that talecast is running (scripts/dev.sh) and try again.';
    case 401: return 'Paste a valid API key (the admin makes one with POST /api/v1/users).';
    case 402: return 'Ask the admin to raise your budget, or wait until it renews.';
    case 404: return 'It may have been deleted: pick a story from your list.';
    case 409: return 'Wait for the running job to finish (or cancel it), then try again.';
    case 413: case 422: return err.field ? `Check the field “${err.field}”.` : 'Check what you entered.';
    case 429: return `You are going too fast: try again ${wait}.`;
    case 503: return `talecast is briefly unavailable: try again ${wait}.`;
    default: return 'Try again; if it keeps failing, the Worker’s log says why.';
  }
}

function headline(err) {
  if (err instanceof ApiError && err.status === 401) return 'That API key was not accepted.';
  if (err instanceof ApiError && err.status === 0) return 'talecast did not answer.';
  if (err instanceof ApiError && err.status === 429) return 'Too many requests.';
  return err.message || String(err);
}

/** Shows a failure at the top of the page (role=alert). `doing` says what was tried. */
export function report(err, doing) {
  const box = $('problem');
  box.replaceChildren();
  const what = doing ? `Could not ${doing}: ` : '';
  const p1 = document.createElement('p');
  p1.className = 'problem-what';
  p1.textContent = what + headline(err);
  const p2 = document.createElement('p');
  p2.className = 'problem-next';
  p2.textContent = nextStep(err);
  box.append(p1, p2);
  if (err instanceof ApiError) box.dataset.status = String(err.status);
  show(box, true);
}

export function clearProblem() {
  const box = $('problem');
  box.replaceChildren();
  delete box.dataset.status;
  show(box, false);
}

/** What to do about a failed chapter or task, from its error code. */
export function chapterAdvice(code) {
  if (code === 'budget_exceeded') return 'Ask the admin to raise your budget, then run the job again: work done is kept.';
  if (code && code.startsWith('tts_')) return 'Start the audio again: clips already made are reused.';
  return 'Regenerate this chapter to try again.';
}
