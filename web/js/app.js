// Wires the page: the key, the story list and the open story (named in the URL's hash, so a
// reload with the key still in sessionStorage returns to it).
import { apiKey, call, ApiError } from './api.js';
import { $, show } from './dom.js';
import { report, clearProblem } from './problems.js';
import { loadAccount } from './account.js';
import { loadStories, createFromForm } from './stories.js';
import { renderStory, renderCast, saveCast, estimateAudio, patchChapters, resetLinks } from './story.js';
import { follow, stop, cancelCurrent, rememberedTask } from './task.js';
import { renderPronunciations, savePronunciation, pronunciationHooks } from './editing.js';

let openId = null;
let focusOnOpen = false; // set by create: the new story's heading takes the focus

function fail(err, doing) {
  report(err, doing);
  if (err instanceof ApiError && err.status === 401) signOut(false);
  if (err instanceof ApiError && err.status === 402) loadAccount().catch(() => {});
}

function signOut(clearMessage = true) {
  apiKey.clear();
  stop();
  show($('who'), false);
  show($('signed-in'), false);
  show($('key-form'), true);
  if (clearMessage) clearProblem();
  $('key-input').focus();
}

async function signIn() {
  try {
    await loadAccount();
  } catch (e) {
    fail(e, 'sign in');
    return;
  }
  clearProblem();
  show($('who'), true);
  show($('signed-in'), true);
  show($('key-form'), false);
  loadStories().catch((e) => fail(e, 'list your stories'));
  route();
}

/** An input of the audio changed: the old estimate no longer holds. */
function inputsChanged() {
  $('estimate').textContent = '';
  $('start-audio').disabled = true;
}

const handlers = {
  onError: fail,
  onEdited: inputsChanged,
  onRegenerate: (n) => startJob(() => call('POST', `/api/v1/stories/${openId}/generate`, { chapters: [n], regenerate: true }), `regenerate chapter ${n}`),
};

async function refreshStory() {
  if (!openId) return;
  const story = await call('GET', `/api/v1/stories/${openId}`);
  await renderStory(story, handlers);
  await renderCast(openId).catch((e) => fail(e, 'load the cast'));
  await renderPronunciations(openId).catch((e) => fail(e, 'load the pronunciations'));
}

pronunciationHooks({
  saved: async () => { inputsChanged(); await refreshStory().catch((e) => fail(e, 'reload the story')); },
  error: fail,
});

/** Follows a task on the open story; when it ends, the story, cast and budget are reloaded. */
async function watch(taskId) {
  const storyId = openId;
  const task = await follow(storyId, taskId, patchChapters);
  if (!task || openId !== storyId) return;
  await refreshStory().catch((e) => fail(e, 'reload the story'));
  loadAccount().catch(() => {});
  loadStories().catch(() => {});
}

async function startJob(start, doing) {
  clearProblem();
  try {
    const { task_id } = await start();
    watch(task_id);
  } catch (e) {
    fail(e, doing);
  }
}

async function openStory(id) {
  stop();
  openId = id;
  resetLinks();
  show($('task'), false);
  $('estimate').textContent = '';
  $('start-audio').disabled = true;
  try {
    await refreshStory();
  } catch (e) {
    openId = null;
    show($('story'), false);
    fail(e, 'open the story');
    return;
  }
  show($('story'), true);
  if (focusOnOpen) { focusOnOpen = false; $('story-heading').focus(); }
  const running = rememberedTask(id);
  if (running) watch(running);
}

function route() {
  const m = location.hash.match(/^#story\/([0-9a-f-]{36})$/i);
  if (m && apiKey.get()) openStory(m[1]);
  else { openId = null; show($('story'), false); }
}

$('key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = $('key-input').value.trim();
  if (!key) return;
  apiKey.set(key);
  $('key-input').value = '';
  signIn();
});

$('forget-key').addEventListener('click', () => signOut());

$('create-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearProblem();
  const button = $('create-button');
  button.disabled = true;
  try {
    const story = await createFromForm(ev.target);
    // The story exists from here on; a job start that is refused (402, 429) leaves it open
    // as a draft, with "Write missing chapters" to try again.
    let refused = null;
    try {
      const { task_id } = await call('POST', `/api/v1/stories/${story.id}/generate`, {});
      sessionStorage.setItem(`talecast.task.${story.id}`, task_id);
    } catch (e) {
      refused = e;
    }
    ev.target.reset();
    // Keyboard and screen-reader users land on the story that was just made.
    focusOnOpen = true;
    location.hash = `#story/${story.id}`; // route() opens it and follows the task
    loadStories().catch(() => {});
    if (refused) fail(refused, 'start writing the story');
  } catch (e) {
    fail(e, 'create the story');
  } finally {
    button.disabled = false;
  }
});

$('write-story').addEventListener('click', () =>
  startJob(() => call('POST', `/api/v1/stories/${openId}/generate`, {}), 'write the missing chapters'));
$('more-stories').addEventListener('click', () => loadStories(true).catch((e) => fail(e, 'list older stories')));
$('cancel-task').addEventListener('click', () => cancelCurrent().catch((e) => fail(e, 'cancel the job')));

$('cast-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearProblem();
  try {
    await saveCast(openId);
    $('estimate').textContent = '';
    $('start-audio').disabled = true;
  } catch (e) {
    fail(e, 'save the voices');
  }
});

$('pron-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearProblem();
  try {
    await savePronunciation(openId);
  } catch (e) {
    fail(e, 'save the pronunciation');
  }
});

$('estimate-audio').addEventListener('click', async () => {
  clearProblem();
  try {
    await estimateAudio(openId);
    $('start-audio').disabled = false;
  } catch (e) {
    fail(e, 'estimate the audio');
  }
});

$('start-audio').addEventListener('click', () => {
  $('start-audio').disabled = true;
  startJob(() => call('POST', `/api/v1/stories/${openId}/audio`, {}), 'start the audio');
});

window.addEventListener('hashchange', route);

if (apiKey.get()) signIn();
else $('key-input').focus();
