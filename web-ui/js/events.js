// The daemon's event feed (`/api/v1/events`), kept open for the whole app: reconnects with
// back-off and asks for what it missed (`since`); when the daemon says events were lost
// (`gap`), listeners are told to reload what they show.

import { setOnline } from './api.js';

/** Back-off between reconnects, ms: doubles from the first to the last. */
const RETRY_FIRST_MS = 500;
const RETRY_LAST_MS = 8000;

const handlers = new Set();
let socket = null;
let lastSeq = 0;
let retryMs = RETRY_FIRST_MS;
let timer = null;

/** Calls `fn(event)` for every event; `fn({type: 'reload'})` after a gap or reconnect. */
export function subscribe(fn) {
  handlers.add(fn);
  return () => handlers.delete(fn);
}

function dispatch(event) {
  for (const fn of handlers) {
    try {
      fn(event);
    } catch (err) {
      console.error('event handler failed', err);
    }
  }
}

/** A text message of a daemon socket as an object; null for anything else. */
export function parseMessage(data) {
  if (typeof data !== 'string') return null;
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

export function wsUrl(path) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${path}`;
}

/** Opens the feed (once). */
export function connect() {
  if (socket) return;
  const ws = new WebSocket(wsUrl(`/api/v1/events${lastSeq ? `?since=${lastSeq}` : ''}`));
  socket = ws;
  let opened = false;
  ws.onopen = () => {
    opened = true;
    retryMs = RETRY_FIRST_MS;
    setOnline(true);
  };
  ws.onmessage = (message) => {
    const event = parseMessage(message.data);
    if (!event) return;
    if (event.type === 'hello') {
      // A restarted daemon numbers from 1 again.
      if (typeof event.next_seq === 'number' && event.next_seq <= lastSeq) lastSeq = event.next_seq - 1;
      // First connect, reconnect or gap: whatever is shown may be stale.
      dispatch({ type: 'reload', gap: Boolean(event.gap) });
      return;
    }
    if (typeof event.seq === 'number') lastSeq = event.seq;
    dispatch(event);
  };
  ws.onclose = () => {
    socket = null;
    if (!opened) setOnline(false);
    clearTimeout(timer);
    timer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_LAST_MS);
  };
}

/** Reconnects now (the network came back). */
export function reconnectNow() {
  if (socket) return;
  clearTimeout(timer);
  retryMs = RETRY_FIRST_MS;
  connect();
}
