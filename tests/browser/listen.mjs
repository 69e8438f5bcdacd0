// The whole path in real Chromium, from the keyboard where a person would use it: key →
// create a 2-chapter story → progress to 100 → scripts → a voice changed → estimate → audio
// → a chapter plays and seeks (a 206 is seen) → the book downloads with its chapter marks.
// Then an axe-core scan of that page. Screenshots go to $TALECAST_BROWSER_OUT.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASE, OUT, api, assertClean, check, open, pageGzipBytes, run, shot, signIn, tabTo } from './lib.mjs';

const { browser, page, watch } = await open();
let storyId;

const progressOf = () => page.evaluate(() => Number(document.getElementById('task-progress').value));
const taskStatus = () => page.evaluate(() => document.getElementById('task').dataset.status || '');

async function untilTaskEnds(timeoutMs) {
  await page.waitForFunction(() => ['completed', 'failed', 'cancelled'].includes(document.getElementById('task').dataset.status),
    null, { timeout: timeoutMs, polling: 200 });
  return taskStatus();
}

async function keyAndCreate() {
  const first = await page.goto(BASE + '/');
  const headers = first.headers();
  check(/default-src 'none'/.test(headers['content-security-policy'] || ''), `CSP on /: ${headers['content-security-policy']}`);
  check(headers['referrer-policy'] === 'no-referrer', 'Referrer-Policy no-referrer');
  check(headers['x-content-type-options'] === 'nosniff', 'nosniff');
  await signIn(page);
  await page.waitForSelector('#who:not([hidden])');
  check((await page.textContent('#budget')).includes('TTS characters'), 'the budget is shown');
  check(!(await page.evaluate(() => location.href)).includes('tc_'), 'the key is not in the URL');
  await shot(page, '1-signed-in');

  // Keyboard only: Tab to each field, type, Enter on the button.
  await tabTo(page, '#prompt-input');
  await page.keyboard.type('A lighthouse keeper and a lost whale trade stories through one stormy night.');
  await tabTo(page, '#chapters-input');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('2');
  await tabTo(page, '#create-button');
  // Every progress value the page shows (<progress value> reflects to its attribute).
  await page.evaluate(() => {
    window.__progressSeen = [];
    new MutationObserver(() => window.__progressSeen.push(Number(document.getElementById('task-progress').value)))
      .observe(document.getElementById('task-progress'), { attributes: true, attributeFilter: ['value'] });
  });
  const t0 = Date.now();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => Number(document.getElementById('task-progress').value) > 0
    && !document.getElementById('task').hidden, null, { timeout: 60_000, polling: 50 });
  console.log(`figure: time to first progress on the page ${Date.now() - t0} ms (from Enter on Create)`);
  storyId = (await page.evaluate(() => location.hash)).split('/')[1];
  check(await page.evaluate(() => document.activeElement.id === 'story-heading'), 'focus lands on the new story');
  check(await page.getAttribute('#task-message', 'aria-live') === 'polite', 'progress is announced politely');
  await shot(page, '2-writing');
  check(await untilTaskEnds(240_000) === 'completed', `story job ended ${await taskStatus()}: ${await page.textContent('#task-message')}`);
  check(await progressOf() === 100, 'progress reaches 100');
  const seen = await page.evaluate(() => window.__progressSeen);
  check(seen.every((v, i) => i === 0 || v >= seen[i - 1]), `progress never goes back: ${seen}`);
  console.log(`figure: progress shown ${seen.join(' → ')}`);
  console.log(`figure: 2-chapter story written in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

async function scripts() {
  await page.waitForSelector('#chapters li[data-number="2"][data-status="script_ready"]');
  for (const n of [1, 2]) {
    await tabTo(page, `#chapters li[data-number="${n}"] summary`);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`#chapters li[data-number="${n}"] .script p strong`);
  }
  const lines = await page.locator('#chapters .script p strong').count();
  check(lines >= 2, `script lines shown: ${lines}`);
  await shot(page, '3-scripts');
}

async function changeVoice() {
  await page.waitForSelector('#cast-rows select');
  const selects = page.locator('#cast-rows select');
  check(await selects.count() >= 2, 'the cast lists the narrator and the speakers');
  // A speaker (not the narrator) whose voice is not the catalogue's last, so ArrowDown moves.
  const index = await selects.evaluateAll((all) => all.findIndex((sel, i) => i > 0 && sel.selectedIndex < sel.options.length - 1));
  check(index > 0, 'a speaker can take another voice');
  const target = selects.nth(index);
  const speaker = await target.getAttribute('data-speaker');
  const before = await target.inputValue();
  const options = await target.locator('option').evaluateAll((os) => os.map((o) => o.value));
  const next = options[options.indexOf(before) + 1];
  check(next, `the catalogue offers a voice after ${before}`);
  // The keyboard picks the next voice in the list, as a person would with the arrow key.
  await tabTo(page, `#cast-rows select[data-speaker="${speaker}"]`);
  await page.keyboard.press('ArrowDown');
  check(await target.inputValue() === next, `ArrowDown chose ${await target.inputValue()}, wanted ${next}`);
  await tabTo(page, '#save-voices');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('cast-note').textContent === 'Voices saved.');
  const cast = await api('GET', `/api/v1/stories/${storyId}/voices`);
  const saved = speaker === 'Narrator' ? cast.body.narrator : cast.body.speakers[speaker];
  check(saved === next, `${speaker} is voiced by ${saved}, wanted ${next}`);
}

async function audio() {
  await tabTo(page, '#estimate-audio');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /characters to voice/.test(document.getElementById('estimate').textContent));
  console.log(`estimate: ${await page.textContent('#estimate')}`);
  await tabTo(page, '#start-audio');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /Recording audio/.test(document.getElementById('task-label').textContent));
  check(await untilTaskEnds(240_000) === 'completed', `audio job ended ${await taskStatus()}: ${await page.textContent('#task-message')}`);
  await page.waitForSelector('audio[data-chapter="1"]');
  await page.waitForSelector('#book:not([hidden])');
}

async function playAndSeek() {
  const src = await page.getAttribute('audio[data-chapter="1"]', 'src');
  check(!src.includes('tc_'), 'the player URL carries no API key');
  const played = await page.evaluate(async () => {
    const a = document.querySelector('audio[data-chapter="1"]');
    await a.play();
    const start = performance.now();
    while (a.currentTime < 0.5 && performance.now() - start < 15000) await new Promise((r) => setTimeout(r, 100));
    return { t: a.currentTime, duration: a.duration };
  });
  check(played.t >= 0.5, `currentTime advanced to ${played.t}`);
  const seeked = await page.evaluate(async () => {
    const a = document.querySelector('audio[data-chapter="1"]');
    const to = a.duration * 0.75;
    await new Promise((resolve) => { a.addEventListener('seeked', resolve, { once: true }); a.currentTime = to; });
    await new Promise((r) => setTimeout(r, 600));
    return { to, t: a.currentTime };
  });
  check(seeked.t >= seeked.to - 0.5, `seeked to ${seeked.to}, at ${seeked.t}`);
  const path = new URL(src).pathname;
  const ranged = watch.responses.filter((r) => new URL(r.url).pathname === path && r.status === 206);
  check(ranged.length > 0, `a Range request on ${path} answered 206 (saw ${watch.responses.filter((r) => new URL(r.url).pathname === path).map((r) => r.status)})`);
  const asked = ranged.map((r) => r.request.headers().range).join(' ');
  // Chromium fetched a short chapter whole with one open-ended Range; a player that seeks
  // into bytes it has not fetched asks for them so: the signed URL answers a mid-file Range.
  const mid = await page.evaluate(async (url) => {
    const r = await fetch(url, { headers: { Range: 'bytes=100000-100999' } });
    return { status: r.status, range: r.headers.get('Content-Range'), bytes: (await r.arrayBuffer()).byteLength };
  }, src);
  check(mid.status === 206 && mid.bytes === 1000 && /^bytes 100000-100999\//.test(mid.range), `mid-file Range: ${JSON.stringify(mid)}`);
  console.log(`figure: chapter 1 played to ${played.t.toFixed(2)} s of ${played.duration.toFixed(1)} s, seeked to ${seeked.t.toFixed(1)} s; 206 answers to the player's Range ${asked}, and to bytes=100000-100999 (${mid.range})`);
  await page.evaluate(() => document.querySelector('audio[data-chapter="1"]').pause());
  await shot(page, '4-listen');
}

async function book() {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#book-link')]);
  const file = join(OUT, 'book.mp3');
  await download.saveAs(file);
  const probe = spawnSync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_chapters', file], { encoding: 'utf8' });
  check(probe.status === 0, `ffprobe: ${probe.stderr}`);
  const info = JSON.parse(probe.stdout);
  check(info.chapters.length === 2, `the book has ${info.chapters.length} chapter marks`);
  const bytes = readFileSync(file).length;
  console.log(`figure: book ${bytes} bytes, ${Number(info.format.duration).toFixed(1)} s, chapters ${info.chapters.map((c) => `${c.tags && c.tags.title}@${Number(c.start_time).toFixed(1)}s`).join(', ')}`);
}

async function reload() {
  await page.reload();
  await page.waitForSelector('#who:not([hidden])');
  await page.waitForSelector('audio[data-chapter="2"]');
  check(await page.textContent('#story-list').then((t) => t.includes('lighthouse keeper')), 'the story is listed');
}

async function accessibility() {
  await page.evaluate(readFileSync('node_modules/axe-core/axe.min.js', 'utf8'));
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const summary = result.violations.map((v) => `${v.id} (${v.impact}, ${v.nodes.length})`).join(', ') || 'none';
  console.log(`axe: violations ${summary}`);
  check(bad.length === 0, `serious or critical axe violations: ${bad.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target).join(' ')}`).join('; ')}`);
}

console.log(`figure: page transfer ${pageGzipBytes()} bytes gzip (web/, every file)`);
await run(browser, [
  ['key and create from the keyboard, progress to 100', keyAndCreate],
  ['scripts shown', scripts],
  ['a voice changed and saved', changeVoice],
  ['estimate, then audio', audio],
  ['a chapter plays and seeks', playAndSeek],
  ['the book downloads with chapter marks', book],
  ['a reload returns to the story (key in sessionStorage)', reload],
  ['axe-core: no serious or critical violation', accessibility],
  ['no foreign request, no CSP violation', async () => assertClean(watch)],
]);
