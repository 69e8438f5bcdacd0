// One story: its chapters (status, script, regenerate, player), its cast, the audio job's
// estimate and start, and the book download. Players get signed links (an <audio src>
// cannot send the key).
import { call } from './api.js';
import { $, el, show, storyName } from './dom.js';
import { chapterAdvice } from './problems.js';
import { editableScript } from './editing.js';

const STATUS_WORDS = {
  pending: 'waiting',
  generating_script: 'writing the script…',
  script_ready: 'script ready',
  enhancing: 'enhancing the script…',
  enhanced: 'enhanced script ready',
  generating_audio: 'recording…',
  audio_ready: 'audio ready',
  failed: 'failed',
};

let catalogue = null; // GET /api/v1/voices, loaded once
let links = null;     // the last POST .../links answer for the open story

export function resetLinks() { links = null; }

function chapterItem(storyId, ch, handlers) {
  const n = ch.number;
  const details = el('details', { class: 'script-box' }, el('summary', {}, `Script of chapter ${n}`));
  details.addEventListener('toggle', async () => {
    if (!details.open || details.dataset.loaded) return;
    details.dataset.loaded = '1';
    try {
      const full = await call('GET', `/api/v1/stories/${storyId}/chapters/${n}`);
      details.append(editableScript(storyId, full, handlers, details.closest('li')));
    } catch (e) {
      delete details.dataset.loaded;
      handlers.onError(e, `load the script of chapter ${n}`);
    }
  });
  const url = links && (links.chapters.find((c) => c.number === n) || {}).url;
  const player = ch.audio && url
    ? el('audio', { controls: true, preload: 'metadata', src: url, 'aria-label': `Chapter ${n} audio`, 'data-chapter': n })
    : null;
  const failure = ch.status === 'failed' && ch.error
    ? el('p', { class: 'chapter-error' }, `${ch.error.message} `, el('span', {}, chapterAdvice(ch.error.code)))
    : null;
  return el('li', { 'data-number': n, 'data-status': ch.status },
    el('span', { class: 'chapter-title' }, `Chapter ${n}${ch.title ? `: ${ch.title}` : ''}`),
    el('span', { class: 'chapter-status' }, ` — ${STATUS_WORDS[ch.status] || ch.status}`),
    ch.audio ? el('span', { class: 'help' }, ` (${Math.round(ch.audio.duration_ms / 1000)} s)`) : '',
    el('span', { class: 'chapter-stale help', role: 'status' }, ch.audio_stale ? ' · audio out of date (make the audio again to update it)' : ''),
    failure,
    el('div', { class: 'row' },
      el('button', { type: 'button', class: 'regenerate', onclick: () => handlers.onRegenerate(n) }, `Regenerate chapter ${n}`)),
    details,
    player);
}

async function ensureLinks(story) {
  const withAudio = story.chapters.filter((c) => c.audio).map((c) => c.number);
  if (!withAudio.length) { links = null; return; }
  const fresh = links && links.story === story.id && Date.parse(links.expires_at) - Date.now() > 60_000 &&
    withAudio.every((n) => links.chapters.some((c) => c.number === n && c.url));
  if (fresh && links.book) return;
  links = { ...(await call('POST', `/api/v1/stories/${story.id}/links`, {})), story: story.id };
}

export async function renderStory(story, handlers) {
  $('story-heading').textContent = storyName(story);
  $('story-status').textContent = `${story.num_chapters} chapter(s) · ${story.status}${story.enhance ? ' · enhanced' : ''} · “${story.prompt.slice(0, 140)}”`;
  try {
    await ensureLinks(story);
  } catch (e) {
    links = null;
    handlers.onError(e, 'make the player links');
  }
  // Scripts a person had open stay open (and are read again) when the list is redrawn.
  const wasOpen = [...document.querySelectorAll('#chapters li details[open]')].map((d) => d.closest('li').dataset.number);
  $('chapters').replaceChildren(...story.chapters.map((ch) => chapterItem(story.id, ch, handlers)));
  for (const n of wasOpen) {
    const details = document.querySelector(`#chapters li[data-number="${n}"] details`);
    if (details) details.open = true;
  }
  const book = links && links.book;
  show($('book'), Boolean(book));
  show($('book-none'), !book);
  if (book) {
    $('book-link').href = links.book;
    $('feed-link').href = links.feed;
    $('links-expire').textContent = new Date(links.expires_at).toLocaleString('en');
  }
}

/** Chapter statuses from a task event, without a round trip. */
export function patchChapters(task) {
  for (const c of task.chapters || []) {
    const li = document.querySelector(`#chapters li[data-number="${c.number}"]`);
    if (!li) continue;
    li.dataset.status = c.status;
    li.querySelector('.chapter-status').textContent = ` — ${STATUS_WORDS[c.status] || c.status}`;
  }
}

export async function renderCast(storyId) {
  if (!catalogue) catalogue = await call('GET', '/api/v1/voices');
  const cast = await call('GET', `/api/v1/stories/${storyId}/voices`);
  const rows = [];
  const speakers = Object.entries(cast.speakers || {});
  if (!speakers.some(([name]) => name === 'Narrator')) speakers.unshift(['Narrator', cast.narrator]);
  speakers.forEach(([name, voice], i) => {
    const id = `voice-${i}`;
    const select = el('select', { id, 'data-speaker': name },
      catalogue.voices.map((v) => el('option', { value: v.id, selected: v.id === voice },
        v.description ? `${v.name} — ${v.description}` : v.name)));
    if (!catalogue.voices.some((v) => v.id === voice)) select.prepend(el('option', { value: voice, selected: true }, voice));
    rows.push(el('tr', {}, el('th', { scope: 'row' }, el('label', { for: id }, name)), el('td', {}, select)));
  });
  $('cast-rows').replaceChildren(...rows);
  $('cast-note').textContent = rows.length > 1 ? '' : 'The cast appears once a script is written.';
}

export async function saveCast(storyId) {
  const body = {};
  for (const select of document.querySelectorAll('#cast-rows select')) body[select.dataset.speaker] = select.value;
  await call('PUT', `/api/v1/stories/${storyId}/voices`, body);
  $('cast-note').textContent = 'Voices saved.';
}

export async function estimateAudio(storyId) {
  const est = await call('POST', `/api/v1/stories/${storyId}/audio`, { dry_run: true });
  const cached = est.clips_cached ? `, ${est.clips_cached} of ${est.clips} clips already made` : '';
  const b = est.budget && est.budget.tts_characters;
  const left = b && b.limit !== null ? ` You have ${(b.limit - b.used).toLocaleString('en')} characters left this month.` : '';
  const lines = est.lines === undefined ? '' : `${est.lines.toLocaleString('en')} line(s), `;
  $('estimate').textContent =
    `${lines}${est.characters.toLocaleString('en')} characters to voice${cached}: about $${Number(est.estimated_cost_usd).toFixed(4)}.${left}`;
  return est;
}
