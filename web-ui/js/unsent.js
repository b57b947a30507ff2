// Recordings this browser has not handed to the daemon yet (not to be confused with the
// daemon's outbox, its export folder): every recording made here is written to IndexedDB as
// it is made, and stays there until the daemon has confirmed it. A recording whose live
// connection held to the end is confirmed by the daemon's `ended`; one that lost the
// daemon (network, daemon down, tab closed) is uploaded as a WAV file when the daemon is
// back, and the partial live session the daemon kept of it is then replaced.

import { api, upload, ApiError } from './api.js';

// The database keeps its first name, so recordings waiting in a browser survive this rename.
const DB_NAME = 'scribe-outbox';
const DB_VERSION = 1;
/** Audio a live session may miss at its end (frames in flight when the socket closed), ms. */
const CONFIRM_SLACK_MS = 2000;
/**
 * A recording another page has not added to for this long is taken as abandoned (its tab
 * was closed or crashed); a page records ten writes a second.
 */
const ABANDONED_MS = 10000;

/** This page's id: a `recording` left by another page (a closed tab) is finished. */
const PAGE_ID = crypto.randomUUID();

let dbPromise = null;

function db() {
  dbPromise ??= new Promise((resolve, reject) => {
    const open = indexedDB.open(DB_NAME, DB_VERSION);
    open.onupgradeneeded = () => {
      const d = open.result;
      d.createObjectStore('recordings', { keyPath: 'id' });
      d.createObjectStore('chunks', { keyPath: ['rec', 'seq'] });
    };
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  return dbPromise;
}

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function tx(stores, mode, fn) {
  const d = await db();
  const t = d.transaction(stores, mode);
  const result = fn(t);
  await new Promise((resolve, reject) => {
    t.oncomplete = resolve;
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error ?? new Error('IndexedDB transaction aborted'));
  });
  return result instanceof IDBRequest ? result.result : result;
}

const changes = new Set();
/** Calls `fn()` whenever the unsent recordings change. */
export function onChange(fn) {
  changes.add(fn);
  return () => changes.delete(fn);
}
function changed() {
  for (const fn of changes) fn();
}

/** A new recording; `state` is `recording` until it stops. */
export async function create({ title, sampleRate }) {
  const rec = {
    id: crypto.randomUUID(),
    title,
    sampleRate,
    createdMs: Date.now(),
    samples: 0,
    chunks: 0,
    aliveMs: Date.now(),
    state: 'recording',
    sessionId: null,
    owner: PAGE_ID,
  };
  await tx(['recordings'], 'readwrite', (t) => t.objectStore('recordings').put(rec));
  changed();
  return rec;
}

/** Appends 16-bit PCM to a recording and updates its counters. */
export async function append(rec, pcm) {
  const seq = rec.chunks;
  rec.chunks += 1;
  rec.samples += pcm.length;
  rec.aliveMs = Date.now();
  await tx(['recordings', 'chunks'], 'readwrite', (t) => {
    t.objectStore('chunks').put({ rec: rec.id, seq, data: pcm.buffer.slice(0) });
    t.objectStore('recordings').put(rec);
  });
}

/** Saves a recording's other fields (session id, state). */
export async function save(rec) {
  await tx(['recordings'], 'readwrite', (t) => t.objectStore('recordings').put(rec));
  changed();
}

/** Drops a recording and its audio. */
export async function remove(id) {
  await tx(['recordings', 'chunks'], 'readwrite', (t) => {
    t.objectStore('recordings').delete(id);
    t.objectStore('chunks').delete(IDBKeyRange.bound([id, 0], [id, Infinity]));
  });
  changed();
}

/** Recordings waiting for the daemon: all but the ones a page is still making. */
export async function waiting() {
  const now = Date.now();
  return (await list()).filter((r) => r.state !== 'recording' || (r.owner !== PAGE_ID && now - (r.aliveMs ?? 0) > ABANDONED_MS));
}

/** Every recording not yet confirmed, oldest first. */
export async function list() {
  const all = await tx(['recordings'], 'readonly', (t) => t.objectStore('recordings').getAll());
  return all.sort((a, b) => a.createdMs - b.createdMs);
}

/** The recording as a 16-bit mono WAV file. */
export async function wav(rec) {
  const chunks = await tx(['chunks'], 'readonly', (t) =>
    t.objectStore('chunks').getAll(IDBKeyRange.bound([rec.id, 0], [rec.id, Infinity])),
  );
  const dataBytes = chunks.reduce((n, c) => n + c.data.byteLength, 0);
  const header = new DataView(new ArrayBuffer(44));
  const text = (offset, s) => [...s].forEach((ch, i) => header.setUint8(offset + i, ch.charCodeAt(0)));
  text(0, 'RIFF');
  header.setUint32(4, 36 + dataBytes, true);
  text(8, 'WAVE');
  text(12, 'fmt ');
  header.setUint32(16, 16, true);
  header.setUint16(20, 1, true); // PCM
  header.setUint16(22, 1, true); // mono
  header.setUint32(24, rec.sampleRate, true);
  header.setUint32(28, rec.sampleRate * 2, true);
  header.setUint16(32, 2, true);
  header.setUint16(34, 16, true);
  text(36, 'data');
  header.setUint32(40, dataBytes, true);
  return new Blob([header.buffer, ...chunks.map((c) => c.data)], { type: 'audio/wav' });
}

let flushing = null;

/**
 * Sends what the daemon has not confirmed. Resolves to the number of recordings still
 * waiting. Runs one flush at a time.
 */
export function flush() {
  flushing ??= flushAll().finally(() => {
    flushing = null;
  });
  return flushing;
}

async function flushAll() {
  let left = 0;
  for (const rec of await waiting()) {
    try {
      if (!(await deliver(rec))) left += 1;
    } catch (err) {
      if (err instanceof ApiError && err.status === 0) return left + 1;
      rec.error = err.message;
      await save(rec);
      left += 1;
    }
  }
  return left;
}

/** Confirms or uploads one recording; true when it is sent. */
async function deliver(rec) {
  const recordedMs = (rec.samples / rec.sampleRate) * 1000;
  if (rec.sessionId) {
    const live = await api(`/api/v1/sessions/${encodeURIComponent(rec.sessionId)}`).catch((err) => {
      if (err.status === 404) return null;
      throw err;
    });
    const status = live?.session?.status;
    // The daemon is still receiving or storing it: its length is not known yet.
    if (status === 'recording' || status === 'processing') return false;
    if (live && (live.session.duration_ms ?? 0) >= recordedMs - CONFIRM_SLACK_MS && status !== 'error') {
      await remove(rec.id);
      return true;
    }
  }
  if (rec.samples === 0) {
    await remove(rec.id);
    return true;
  }
  rec.state = 'uploading';
  await save(rec);
  const name = `${rec.title || 'Browser recording'} ${new Date(rec.createdMs).toISOString().slice(0, 19).replace('T', ' ')}.wav`;
  const answer = await upload(`/api/v1/uploads?name=${encodeURIComponent(name)}`, await wav(rec));
  // The uploaded file holds everything; the partial live session it supersedes goes.
  if (rec.sessionId && answer?.session_id !== rec.sessionId) {
    await api(`/api/v1/sessions/${encodeURIComponent(rec.sessionId)}`, { method: 'DELETE' }).catch(() => {});
  }
  await remove(rec.id);
  return true;
}
