// The service worker: keeps the app shell and the recently opened sessions so the library
// can be read when the daemon is out of reach. Every request goes to the daemon first (a
// daemon on the LAN answers or refuses at once), and the cache answers only when it cannot.
// Cached answers carry `X-Scribe-Cached: 1` so the page can show that it is offline.
//
// The daemon fills in VERSION (a digest of the embedded UI) and SHELL (its files) when it
// serves this file, so a new build installs a new worker and drops the old shell.

const VERSION = '__VERSION__';
const SHELL = __SHELL__;
const SHELL_CACHE = `scribe-shell-${VERSION}`;
const DATA_CACHE = 'scribe-data';
/** Sessions kept for offline reading, most recently opened first. */
const MAX_SESSIONS = 20;

/** API answers worth keeping: the session list, sessions, their words and waveforms, status. */
const CACHEABLE = [
  /^\/api\/v1\/sessions$/,
  /^\/api\/v1\/sessions\/[^/]+$/,
  /^\/api\/v1\/sessions\/[^/]+\/(words|waveform)$/,
  /^\/api\/v1\/(status|plugins)$/,
];
const SESSION = /^\/api\/v1\/sessions\/([^/]+)$/;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('scribe-shell-') && name !== SHELL_CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function marked(response) {
  const headers = new Headers(response.headers);
  headers.set('X-Scribe-Cached', '1');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

function unavailable() {
  const body = JSON.stringify({ error: { code: 'offline', message: 'The daemon cannot be reached and this page is not saved offline.' } });
  return new Response(body, { status: 503, headers: { 'Content-Type': 'application/json', 'X-Scribe-Offline': '1' } });
}

/** Forgets the oldest sessions beyond MAX_SESSIONS (all their cached answers). */
async function trim(cache) {
  const keys = await cache.keys();
  const order = [];
  for (const request of keys) {
    const id = new URL(request.url).pathname.match(SESSION)?.[1];
    if (id) order.push(id);
  }
  const drop = new Set(order.slice(0, Math.max(0, order.length - MAX_SESSIONS)));
  if (drop.size === 0) return;
  for (const request of keys) {
    const path = new URL(request.url).pathname;
    const id = path.match(/^\/api\/v1\/sessions\/([^/]+)/)?.[1];
    if (id && drop.has(id)) await cache.delete(request);
  }
}

async function apiRequest(request, path) {
  const cache = await caches.open(DATA_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) {
      // Deleting first moves the entry to the end: the cache's order is the recency order.
      await cache.delete(request);
      await cache.put(request, response.clone());
      if (SESSION.test(path)) await trim(cache);
    } else if (response.status === 404 && SESSION.test(path)) {
      await cache.delete(request);
    }
    return response;
  } catch {
    const cached = await cache.match(request);
    return cached ? marked(cached) : unavailable();
  }
}

async function shellRequest(request) {
  const cache = await caches.open(SHELL_CACHE);
  try {
    return await fetch(request);
  } catch {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    if (request.mode === 'navigate') return (await cache.match('/')) ?? Response.error();
    return Response.error();
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/')) {
    if (CACHEABLE.some((re) => re.test(url.pathname))) event.respondWith(apiRequest(request, url.pathname));
    return;
  }
  if (url.pathname === '/healthz') return;
  event.respondWith(shellRequest(request));
});
