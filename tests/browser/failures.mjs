// Failures shown in plain words, with what to do next: a bad key (401), a job started while
// another runs (409; then Cancel ends the running one), a chapter the LLM refused, and a job
// that would pass the monthly budget (402), and job starts past the rate limit (429; the stack
// allows 4 a minute).
// Faults come from the OpenAI stand-in's /__admin/faults.
import { api, assertClean, check, open, providers, run, shot, signIn } from './lib.mjs';

const { browser, page, watch } = await open();

const problem = async () => ({
  status: await page.getAttribute('#problem', 'data-status'),
  text: (await page.textContent('#problem')).trim(),
});

async function create(prompt, chapters) {
  await page.fill('#prompt-input', prompt);
  await page.fill('#chapters-input', String(chapters));
  await page.click('#create-button');
  await page.waitForSelector('#task:not([hidden])');
}

async function badKey() {
  await signIn(page, 'tc_this_key_does_not_exist');
  await page.waitForSelector('#problem:not([hidden])');
  const p = await problem();
  check(p.status === '401', `status ${p.status}`);
  check(p.text.includes('That API key was not accepted.') && p.text.includes('Paste a valid API key'), p.text);
  check(await page.isHidden('#signed-in'), 'nothing of the account shows');
  check(await page.evaluate(() => sessionStorage.getItem('talecast.key')) === null, 'the bad key is forgotten');
  await shot(page, '5-bad-key');
}

async function conflict() {
  await signIn(page);
  await page.waitForSelector('#who:not([hidden])');
  check(await page.isHidden('#problem'), 'a good key clears the problem');
  // The first LLM call hangs, so the story job stays running.
  await providers('POST', 'faults', { provider: 'openai', kind: 'hang', hang_ms: 120000 });
  await create('A clockmaker builds a clock that runs backwards.', 1);
  await page.waitForFunction(() => document.getElementById('task').dataset.status === 'running', null, { timeout: 60_000 });
  await page.click('#chapters li[data-number="1"] .regenerate');
  await page.waitForSelector('#problem:not([hidden])');
  const p = await problem();
  check(p.status === '409', `status ${p.status}: ${p.text}`);
  check(p.text.includes('Could not regenerate chapter 1') && p.text.includes('queued or running') && p.text.includes('cancel it'), p.text);
  await shot(page, '6-conflict');
  await page.click('#cancel-task');
  await page.waitForFunction(() => document.getElementById('task').dataset.status === 'cancelled', null, { timeout: 30_000 });
  check((await page.textContent('#task-message')).includes('Cancelled'), 'the cancel is shown');
  await providers('DELETE', 'faults');
}

async function failedChapter() {
  // Every LLM call is refused as a bad OpenAI key would be: the task and the chapter fail.
  await providers('POST', 'faults', { provider: 'openai', kind: 'status', status: 401, times: null });
  await create('A cartographer maps a city that changes every night.', 1);
  await page.waitForFunction(() => document.getElementById('task').dataset.status === 'failed', null, { timeout: 90_000 });
  await page.waitForSelector('#chapters li[data-number="1"] .chapter-error');
  const text = await page.textContent('#chapters li[data-number="1"] .chapter-error');
  check(/OpenAI/.test(text) && /401/.test(text), `the chapter's error names the provider and status: ${text}`);
  check(text.includes('Regenerate this chapter to try again.'), `what to do next: ${text}`);
  check((await page.textContent('#task-message')).includes('OpenAI'), 'the task message says why');
  await shot(page, '7-failed-chapter');
  await providers('DELETE', 'faults');
}

async function overBudget() {
  const set = await api('PUT', `/api/v1/admin/users/${process.env.TALECAST_USER_ID}/budget`, { llm_tokens: 10 },
    process.env.TALECAST_ADMIN_TOKEN);
  check(set.status === 200, `budget set: ${set.status}`);
  await page.fill('#prompt-input', 'A baker whose bread remembers every hand that kneaded it.');
  await page.click('#create-button');
  await page.waitForSelector('#problem[data-status="402"]');
  const p = await problem();
  check(p.text.includes('Could not start writing the story') && p.text.includes('budget') && p.text.includes('Ask the admin to raise your budget'), p.text);
  // The story stays, as a draft, open and listed, and the budget shown is the new one.
  await page.waitForFunction(() => location.hash.startsWith('#story/'));
  await page.waitForFunction(() => document.getElementById('story-list').textContent.includes('A baker whose bread'));
  await page.waitForFunction(() => document.getElementById('budget').textContent.includes('of 10'));
  await shot(page, '8-over-budget');
}

async function rateLimited() {
  // The budget story is open; each press is a job start (402 while under the limit).
  for (let i = 0; i < 8; i++) {
    await page.click('#write-story');
    await page.waitForSelector('#problem:not([hidden])');
    if (await page.getAttribute('#problem', 'data-status') === '429') break;
  }
  const p = await problem();
  check(p.status === '429', `status ${p.status}: ${p.text}`);
  check(p.text.includes('Too many requests.') && /try again in \d+ seconds/.test(p.text), p.text);
  await shot(page, '9-rate-limited');
}

await run(browser, [
  ['a bad key shows its message', badKey],
  ['a 409 shows its message; Cancel ends the job', conflict],
  ['a failed chapter shows its error', failedChapter],
  ['a job past the budget shows its message', overBudget],
  ['job starts past the limit show the wait', rateLimited],
  ['no foreign request, no CSP violation', async () => assertClean(watch)],
]);
