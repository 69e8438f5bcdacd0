// Server-sent events read from a fetch body. EventSource cannot send an Authorization
// header, so the page parses the stream itself (the text/event-stream rules, minus retry:).

export async function* sseEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let event = { event: 'message', id: null, data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        if (line === '') {
          if (event.data.length) yield { event: event.event, id: event.id, data: event.data.join('\n') };
          event = { event: 'message', id: event.id, data: [] };
        } else if (!line.startsWith(':')) {
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') event.data.push(val);
          else if (field === 'event') event.event = val;
          else if (field === 'id') event.id = val;
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}
