// The progress panel of one running task, fed by its event stream.
import { call, stream, ApiError } from './api.js';
import { sseEvents } from './sse.js';
import { $, show } from './dom.js';
import { report } from './problems.js';

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let current = null; // { id, abort }

function render(task) {
  $('task-label').textContent = `${task.kind === 'audio' ? 'Recording audio' : 'Writing the story'}: ${task.status}`;
  $('task-progress').value = task.progress;
  $('task-percent').textContent = `${task.progress}%`;
  let message = task.message || task.status;
  if (task.error) message = `${task.error.message}`;
  else if (task.status === 'completed') message = `Done (${task.progress}%).`;
  else if (task.status === 'cancelled') message = 'Cancelled; chapters already done stay done.';
  $('task-message').textContent = message;
  $('task').dataset.status = task.status;
  $('cancel-task').disabled = TERMINAL.has(task.status);
}

/**
 * Follows a task until it ends: `onChange(task)` for every state. The stream is read with
 * fetch (the key must go in a header); a dropped stream is opened again, and the server
 * sends the current state first, so nothing is missed.
 */
export async function follow(storyId, taskId, onChange) {
  stop();
  const abort = new AbortController();
  current = { id: taskId, abort };
  sessionStorage.setItem(`talecast.task.${storyId}`, taskId);
  show($('task'), true);
  for (let attempt = 0; !abort.signal.aborted; attempt++) {
    try {
      const res = await stream(`/api/v1/tasks/${taskId}/events`, abort.signal);
      for await (const ev of sseEvents(res.body)) {
        if (ev.event !== 'task') continue;
        const task = JSON.parse(ev.data);
        render(task);
        onChange(task);
        if (TERMINAL.has(task.status)) {
          sessionStorage.removeItem(`talecast.task.${storyId}`);
          current = null;
          return task;
        }
        attempt = 0;
      }
    } catch (e) {
      if (abort.signal.aborted) return null;
      if (e instanceof ApiError && e.status === 404) {
        sessionStorage.removeItem(`talecast.task.${storyId}`);
        show($('task'), false);
        return null;
      }
      if (e instanceof ApiError && e.status === 401) { report(e, 'follow the job'); return null; }
    }
    await sleep(Math.min(1000 * (attempt + 1), 5000));
  }
  return null;
}

export function stop() {
  if (current) current.abort.abort();
  current = null;
}

export async function cancelCurrent() {
  if (!current) return;
  const task = await call('POST', `/api/v1/tasks/${current.id}/cancel`);
  render(task);
}

/** The task a story was last seen running in this tab, if any. */
export function rememberedTask(storyId) {
  return sessionStorage.getItem(`talecast.task.${storyId}`);
}
