// The app shell: registers the service worker, keeps the event feed going and sends unsent recordings,
// shows the connection state and a nearly full disk, and routes `#/…` to the views.

import { h, fill } from './js/dom.js';
import { api, onConnection, isOnline } from './js/api.js';
import { connect, reconnectNow, subscribe } from './js/events.js';
import * as unsent from './js/unsent.js';
import { libraryView } from './js/views/library.js';
import { sessionView } from './js/views/session.js';
import { liveView } from './js/views/live.js';
import { uploadView } from './js/views/upload.js';
import { statusView } from './js/views/status.js';
import { pairView, pairFromFragment } from './js/views/pair.js';

/** How often unsent recordings are retried while recordings wait and the daemon seems up, ms. */
const OUTBOX_RETRY_MS = 15000;

const routes = {
  library: libraryView,
  session: sessionView,
  live: liveView,
  upload: uploadView,
  status: statusView,
  pair: pairView,
};

const main = document.getElementById('view');
const connection = document.getElementById('connection');
const disk = document.getElementById('disk');
let current = null;
/** Counts navigations, so a view that finishes loading after the next one began is dropped. */
let navigation = 0;

function decode(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** `#/session/ID?t=5000` → {name: 'session', arg: 'ID', params}. */
function parseRoute() {
  const [path, search] = location.hash.replace(/^#\/?/, '').split('?');
  const [name, ...rest] = path.split('/');
  return { name: routes[name] ? name : 'library', arg: rest.map(decode).join('/'), params: new URLSearchParams(search ?? '') };
}

/** Shows the page the address names; `focus` moves the keyboard there (after a link). */
async function route(focus = false) {
  const target = parseRoute();
  const mine = (navigation += 1);
  current?.leave?.();
  current = null;
  for (const link of document.querySelectorAll('nav a')) {
    if (link.dataset.route === target.name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const container = h('div', { class: `view view-${target.name}` });
  fill(main, container);
  // Screen readers and keyboards continue at the new page, not at the link that led there;
  // done before the page loads, so it never takes focus from a field already in use.
  if (focus) main.focus({ preventScroll: true });
  try {
    const view = await routes[target.name](container, target);
    if (mine === navigation) current = view;
    else view?.leave?.();
  } catch (err) {
    if (mine === navigation) fill(container, h('p', { class: 'error', role: 'alert' }, `This page could not be shown: ${err.message}`));
  }
}

function showConnection(online) {
  document.body.classList.toggle('offline', !online);
  fill(connection, online ? '' : h('span', { class: 'offline-indicator' }, 'Offline — showing saved data, read-only'));
}

/** The daemon's free space (`disk` of the status, or a `storage` event): a notice while new work waits. */
function showDisk(state) {
  fill(disk, state?.low
    ? h('span', { class: 'offline-indicator' }, `Disk nearly full: ${state.free_mb} MiB free, under ${state.min_free_mb} MiB. New recordings and files wait until space is freed.`)
    : '');
}

async function refreshDisk() {
  try {
    showDisk((await api('/api/v1/status')).disk);
  } catch {
    // Offline or not paired: the connection notice says so.
  }
}

async function sendUnsent() {
  if (!isOnline()) return;
  try {
    await unsent.flush();
  } catch (err) {
    console.warn('sending unsent recordings failed', err);
  }
}

window.addEventListener('hashchange', () => route(true));
window.addEventListener('scribe:unauthorized', () => {
  if (parseRoute().name !== 'pair') location.hash = '#/pair';
});
window.addEventListener('online', () => {
  reconnectNow();
  sendUnsent();
});
onConnection((online) => {
  showConnection(online);
  if (online) sendUnsent();
});
/** Live statuses after which a session's stored length is known. */
const LIVE_SETTLED = ['complete', 'queued', 'error', 'interrupted'];
subscribe((event) => {
  // A reconnect, or a browser recording's live session settling (its tab may be gone).
  if (event.type === 'reload' || (event.type === 'live' && LIVE_SETTLED.includes(event.status))) sendUnsent();
  if (event.type === 'storage') showDisk(event);
  if (event.type === 'reload') refreshDisk();
});

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js').catch((err) => console.warn('service worker not registered', err));
}
showConnection(isOnline());
await pairFromFragment();
connect();
route();
sendUnsent();
refreshDisk();
setInterval(async () => {
  if ((await unsent.waiting()).length > 0) sendUnsent();
}, OUTBOX_RETRY_MS);
