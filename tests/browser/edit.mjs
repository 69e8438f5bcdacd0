// Editing in real Chromium, from the keyboard: a story with audio (made through the API),
// then one line of chapter 1 edited on the page (the chapter shows its audio out of date),
// a pronunciation set for a word of that line, the estimate naming the one line to voice,
// and the edit dropped again. Then an axe-core scan. Screenshots go to $TALECAST_BROWSER_OUT.
import { readFileSync } from 'node:fs';
import { BASE, api, assertClean, check, open, run, shot, signIn, tabTo } from './lib.mjs';

const { browser, page, watch } = await open();
let storyId;
const NEW_TEXT = 'Quillon rowed out past the last buoy and did not look back.';

async function finish(taskId) {
  for (let i = 0; i < 600; i++) {
    const t = (await api('GET', `/api/v1/tasks/${taskId}`)).body;
    if (['completed', 'failed', 'cancelled'].includes(t.status)) return t.status;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`task ${taskId} did not end`);
}

async function storyWithAudio() {
  const story = await api('POST', '/api/v1/stories', { prompt: 'A harbour pilot and a fog bank.', num_chapters: 1 });
  check(story.status === 201, `create: ${story.status}`);
  storyId = story.body.id;
  const gen = await api('POST', `/api/v1/stories/${storyId}/generate`, {});
  check(await finish(gen.body.task_id) === 'completed', 'the story job completes');
  const audio = await api('POST', `/api/v1/stories/${storyId}/audio`, {});
  check(await finish(audio.body.task_id) === 'completed', 'the audio job completes');
  await signIn(page);
  await page.waitForSelector('#who:not([hidden])');
  await page.evaluate((id) => { location.hash = `#story/${id}`; }, storyId);
  await page.waitForSelector('#chapters li[data-number="1"][data-status="audio_ready"]');
  check((await page.textContent('#chapters li[data-number="1"] .chapter-stale')) === '', 'fresh audio is not marked');
}

async function editALine() {
  await tabTo(page, '#chapters li[data-number="1"] summary');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#chapters li[data-number="1"] .script p .edit-line');
  await tabTo(page, '#chapters li[data-number="1"] .script p[data-line="0"] .edit-line');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#edit-1-0');
  check(await page.evaluate(() => document.activeElement.id === 'edit-1-0'), 'the line editor takes the focus');
  await page.keyboard.press('Control+A');
  await page.keyboard.type(NEW_TEXT);
  await tabTo(page, '#chapters li[data-number="1"] .save-line');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /out of date/.test(document.querySelector('#chapters li[data-number="1"] .chapter-stale').textContent));
  const shown = await page.textContent('#chapters li[data-number="1"] .script p[data-line="0"]');
  check(shown.includes(NEW_TEXT), `the edited line is shown: ${shown}`);
  check((await page.textContent('#chapters li[data-number="1"] .script')).includes('(edited,'), 'the script is marked edited');
  check(await page.evaluate(() => document.activeElement.matches('p[data-line="0"] .edit-line')), 'focus returns to the line');
  const ch = (await api('GET', `/api/v1/stories/${storyId}/chapters/1`)).body;
  check(ch.edited && ch.edited.lines[0].text === NEW_TEXT, 'the API has the edit');
  check(ch.script.lines[0].text !== NEW_TEXT, 'the generated script is kept');
  check(ch.audio_stale === true, 'the API says the audio is stale');
  await shot(page, 'edit-1-line');
}

async function pronounce() {
  await tabTo(page, '#pron-phrase');
  await page.keyboard.type('Quillon');
  await tabTo(page, '#pron-say');
  await page.keyboard.type('Kee-yon');
  await tabTo(page, '#save-pron');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#pron-rows li[data-phrase="Quillon"]');
  check((await page.textContent('#pron-note')).includes('Kee-yon'), 'the save is announced');
  const p = (await api('GET', `/api/v1/stories/${storyId}/pronunciations`)).body;
  check(p.pronunciations.Quillon === 'Kee-yon', `the API has it: ${JSON.stringify(p)}`);
  await tabTo(page, '#estimate-audio');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /characters to voice/.test(document.getElementById('estimate').textContent));
  const estimate = await page.textContent('#estimate');
  const chars = NEW_TEXT.replace('Quillon', 'Kee-yon').length;
  check(estimate.startsWith(`1 line(s), ${chars} characters to voice`), `the estimate names one line: ${estimate}`);
  console.log(`estimate: ${estimate}`);
  await shot(page, 'edit-2-pronunciation');
}

async function revert() {
  await page.waitForSelector('#chapters li[data-number="1"] .revert-script');
  await tabTo(page, '#chapters li[data-number="1"] .revert-script');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /as written/.test(document.querySelector('#chapters li[data-number="1"] .script').textContent));
  const ch = (await api('GET', `/api/v1/stories/${storyId}/chapters/1`)).body;
  check(ch.edited === null, 'the edit is gone');
  // The pronunciation matches no generated line, so the audio is as it was made.
  check(ch.audio_stale === false, `back to what the audio was made from: ${ch.audio_stale}`);
  await tabTo(page, '#pron-rows li[data-phrase="Quillon"] .remove-pron');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => !document.querySelector('#pron-rows li'));
  const p = (await api('GET', `/api/v1/stories/${storyId}/pronunciations`)).body;
  check(Object.keys(p.pronunciations).length === 0, 'the pronunciation is removed');
}

async function accessibility() {
  await page.evaluate(readFileSync('node_modules/axe-core/axe.min.js', 'utf8'));
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  console.log(`axe: violations ${result.violations.map((v) => `${v.id} (${v.impact}, ${v.nodes.length})`).join(', ') || 'none'}`);
  check(bad.length === 0, `serious or critical axe violations: ${bad.map((v) => `${v.id}: ${v.help}`).join('; ')}`);
}

console.log(`page: ${BASE}`);
await run(browser, [
  ['a story with audio, opened on the page', storyWithAudio],
  ['one line edited from the keyboard', editALine],
  ['a pronunciation set, the estimate names one line', pronounce],
  ['back to the generated script, pronunciation removed', revert],
  ['axe-core: no serious or critical violation', accessibility],
  ['no foreign request, no CSP violation', async () => assertClean(watch)],
]);
