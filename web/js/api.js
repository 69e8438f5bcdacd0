// The one door to the API: every call carries the key from sessionStorage in the
// Authorization header (never in a URL, never logged) and every failure becomes an ApiError.

const KEY_NAME = 'talecast.key';

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_NAME),
  set: (value) => sessionStorage.setItem(KEY_NAME, value),
  clear: () => sessionStorage.removeItem(KEY_NAME),
};

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || (status === 0 ? 'network' : 'http_' + status);
    this.field = error.field;
    this.details = error;
    this.retryAfter = retryAfter;
  }
}

async function send(method, path, body, signal) {
  const headers = { Authorization: `Bearer ${apiKey.get() || ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
    });
  } catch (e) {
    if (signal && signal.aborted) throw e;
    throw new ApiError(0, { error: { code: 'network', message: 'talecast did not answer.' } });
  }
  if (!res.ok) {
    const retry = Number(res.headers.get('Retry-After')) || undefined;
    const errBody = await res.json().catch(() => null);
    throw new ApiError(res.status, errBody, retry);
  }
  return res;
}

/** A JSON call: the parsed body, or null for 204. */
export async function call(method, path, body) {
  const res = await send(method, path, body);
  return res.status === 204 ? null : res.json();
}

/** A streaming GET (server-sent events): the Response, whose body the caller reads. */
export function stream(path, signal) {
  return send('GET', path, undefined, signal);
}
