// The user's stories (newest first, paged) and the form that creates one.
import { call } from './api.js';
import { $, el, show, storyName } from './dom.js';

let cursor = null;

function item(story) {
  const when = new Date(story.created_at).toLocaleString('en');
  return el('li', {},
    el('a', { href: `#story/${story.id}` }, storyName(story)),
    el('span', { class: 'help' }, ` · ${story.num_chapters} chapter${story.num_chapters === 1 ? '' : 's'} · ${story.status} · ${when}`));
}

export async function loadStories(more = false) {
  const query = more && cursor ? `?limit=20&cursor=${encodeURIComponent(cursor)}` : '?limit=20';
  const page = await call('GET', `/api/v1/stories${query}`);
  const list = $('story-list');
  if (!more) list.replaceChildren();
  list.append(...page.stories.map(item));
  if (!list.children.length) list.append(el('li', { class: 'help' }, 'No stories yet: write one above.'));
  cursor = page.next_cursor;
  show($('more-stories'), Boolean(cursor));
}

/** Creates the story from the form (a draft: writing it is a job of its own). */
export async function createFromForm(form) {
  const data = new FormData(form);
  const body = {
    prompt: String(data.get('prompt')).trim(),
    num_chapters: Number(data.get('num_chapters')),
    enhance: data.get('enhance') === 'on',
  };
  const title = String(data.get('title')).trim();
  if (title) body.title = title;
  return call('POST', '/api/v1/stories', body);
}
