// Small DOM helpers. Text always goes in as text (LLM output is never parsed as HTML).

export const $ = (id) => document.getElementById(id);

/** el('p', {class: 'x'}, 'text', child): attributes starting with "on" become listeners. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
  }
  return node;
}

export function show(node, visible) {
  node.hidden = !visible;
}

/** A story's title, or the start of its prompt when it has none. */
export function storyName(story) {
  if (story.title) return story.title;
  const p = story.prompt.trim();
  return p.length > 60 ? `${p.slice(0, 60)}…` : p;
}
