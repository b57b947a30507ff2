// Talking to the daemon: JSON in and out, readable errors, and the connection state the
// header shows. The service worker answers from its cache when the daemon is out of reach
// and marks such answers with `X-Scribe-Cached`, which is how the app knows it is offline.

/** An error from the daemon (with its message) or from the network (`status` 0). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const listeners = new Set();
let online = true;

/** Whether the daemon answered the last request. */
export function isOnline() {
  return online;
}

/** Calls `fn(online)` on every change of the connection state. */
export function onConnection(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function setOnline(value) {
  if (value === online) return;
  online = value;
  for (const fn of listeners) fn(online);
}

/** A request to the daemon; resolves to the parsed JSON (or null for 204). */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const init = { method, signal, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    setOnline(false);
    throw new ApiError(0, 'offline', 'The daemon cannot be reached.');
  }
  if (response.status === 503 && response.headers.get('X-Scribe-Offline')) {
    setOnline(false);
    throw new ApiError(0, 'offline', 'The daemon cannot be reached and this page is not saved offline.');
  }
  setOnline(!response.headers.get('X-Scribe-Cached'));
  if (response.status === 401) window.dispatchEvent(new CustomEvent('scribe:unauthorized'));
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: fall through with the raw text as the message.
  }
  if (!response.ok) {
    const message = json?.error?.message ?? (text || `HTTP ${response.status}`);
    throw new ApiError(response.status, json?.error?.code ?? 'error', message);
  }
  return json;
}

/** The query string of the set values in `params`. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') q.set(key, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

/**
 * Sends a file to the daemon with upload progress (fetch has none): resolves to the parsed
 * answer, rejects with an ApiError.
 */
export function upload(path, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(e.loaded / e.total);
    xhr.onerror = () => {
      setOnline(false);
      reject(new ApiError(0, 'offline', 'The daemon cannot be reached.'));
    };
    xhr.onload = () => {
      setOnline(true);
      let json = null;
      try {
        json = JSON.parse(xhr.responseText);
      } catch {
        // Leave json null.
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(json);
      else reject(new ApiError(xhr.status, json?.error?.code ?? 'error', json?.error?.message ?? `HTTP ${xhr.status}`));
    };
    xhr.send(blob);
  });
}
