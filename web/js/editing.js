// Editing: a chapter's script line by line (PUT/DELETE .../chapters/{n}/script) and the
// story's pronunciations (PUT .../pronunciations). The API keeps the generated script; the
// page sends the whole edited script each time, changed in the one line a person edited.
import { call } from './api.js';
import { $, el } from './dom.js';

/** The script the audio job voices, and what it is called on the page. */
function voiced(chapter) {
  const script = chapter.edited || chapter.enhanced || chapter.script;
  const which = chapter.edited ? 'edited' : chapter.enhanced ? 'enhanced' : 'as written';
  return { script, which };
}

/** Marks the chapter's row when its audio no longer matches its script, voices or pronunciations. */
export function markStale(item, stale) {
  const mark = item && item.querySelector('.chapter-stale');
  if (mark) mark.textContent = stale ? ' · audio out of date (make the audio again to update it)' : '';
}

/** The chapter's script, each line with an Edit button; re-renders itself after a save. */
export function editableScript(storyId, chapter, handlers, item) {
  const box = el('div', { class: 'script' });
  const render = (ch, focusLine) => {
    const { script, which } = voiced(ch);
    if (!script) { box.replaceChildren(el('p', { class: 'help' }, 'No script yet.')); return; }
    const n = ch.number;
    const lines = script.lines.map((line, i) => {
      const edit = el('button', { type: 'button', class: 'link edit-line', 'aria-label': `Edit line ${i + 1} of chapter ${n}` }, 'Edit');
      const p = el('p', { 'data-line': i },
        el('strong', {}, line.speaker), line.direction ? el('em', {}, ` (${line.direction})`) : '', ` ${line.text} `, edit);
      edit.addEventListener('click', () => p.replaceWith(lineEditor(ch, script, i)));
      return p;
    });
    const revert = ch.edited
      ? el('button', { type: 'button', class: 'regenerate revert-script', onclick: () => save(null) }, `Back to the generated script of chapter ${n}`)
      : '';
    box.replaceChildren(el('p', { class: 'help' }, `${script.title} (${which}, ${script.lines.length} lines) `, revert), ...lines);
    if (focusLine !== undefined) {
      const again = box.querySelector(`p[data-line="${focusLine}"] .edit-line`);
      if (again) again.focus();
    }
  };
  const save = async (edited, focusLine) => {
    const path = `/api/v1/stories/${storyId}/chapters/${chapter.number}`;
    try {
      const ch = edited
        ? await call('PUT', `${path}/script`, edited)
        : (await call('DELETE', `${path}/script`), await call('GET', path));
      markStale(item, ch.audio_stale);
      render(ch, focusLine);
      if (handlers.onEdited) handlers.onEdited();
      return true;
    } catch (e) {
      handlers.onError(e, edited ? `save the edit of chapter ${chapter.number}` : `return chapter ${chapter.number} to its generated script`);
      return false;
    }
  };
  const lineEditor = (ch, script, i) => {
    const id = `edit-${ch.number}-${i}`;
    const area = el('textarea', { id, rows: 3, maxlength: 5000, required: true });
    area.value = script.lines[i].text;
    const form = el('form', { class: 'stack line-editor' },
      el('label', { for: id }, `Line ${i + 1} (${script.lines[i].speaker})`), area,
      el('div', { class: 'row' },
        el('button', { type: 'submit', class: 'save-line' }, 'Save line'),
        el('button', { type: 'button', class: 'regenerate', onclick: () => render(ch, i) }, 'Cancel')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const lines = script.lines.map((l, j) => ({ speaker: l.speaker, text: j === i ? area.value : l.text, direction: l.direction }));
      await save({ title: script.title, lines }, i);
    });
    setTimeout(() => area.focus(), 0);
    return form;
  };
  render(chapter);
  return box;
}

let pronunciations = {};

export async function renderPronunciations(storyId) {
  pronunciations = (await call('GET', `/api/v1/stories/${storyId}/pronunciations`)).pronunciations;
  const rows = Object.entries(pronunciations).map(([phrase, say]) => el('li', { 'data-phrase': phrase },
    el('strong', {}, phrase), ` is said as “${say}” `,
    el('button', { type: 'button', class: 'link remove-pron', 'aria-label': `Remove the pronunciation of ${phrase}`, onclick: () => removePronunciation(storyId, phrase) }, 'Remove')));
  $('pron-rows').replaceChildren(...rows);
  $('pron-none').hidden = rows.length > 0;
}

// Set by app.js: what follows a save (the story's audio_stale flags change) and errors.
let hooks = { saved: async () => {}, error: () => {} };
export function pronunciationHooks(h) { hooks = h; }

async function putPronunciations(storyId, map, note) {
  const answer = await call('PUT', `/api/v1/stories/${storyId}/pronunciations`, map);
  pronunciations = answer.pronunciations;
  await renderPronunciations(storyId);
  $('pron-note').textContent = note;
  await hooks.saved();
}

export async function savePronunciation(storyId) {
  const phrase = $('pron-phrase').value.trim();
  const say = $('pron-say').value.trim();
  if (!phrase || !say) return;
  await putPronunciations(storyId, { ...pronunciations, [phrase]: say }, `“${phrase}” will be said as “${say}”.`);
  $('pron-phrase').value = '';
  $('pron-say').value = '';
}

async function removePronunciation(storyId, phrase) {
  const rest = { ...pronunciations };
  delete rest[phrase];
  await putPronunciations(storyId, rest, `“${phrase}” is said as written again.`)
    .catch((e) => hooks.error(e, `remove the pronunciation of ${phrase}`));
}
