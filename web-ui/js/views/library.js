// The library: every session with its date, length, kind and status (kept current by
// events), search-as-you-type over titles, transcripts and summaries with highlighted
// snippets, and filters. A hit links to its session at the moment of the matched word.

import { h, fill, clock, when, badge, debounce } from '../dom.js';
import { api, query } from '../api.js';
import { subscribe } from '../events.js';
import * as unsent from '../unsent.js';

const LIST_PAGE = 50;
const SEARCH_PAGE = 20;
/** Pause in typing before a search is sent, ms: keystrokes in a word do not each search. */
const TYPING_PAUSE_MS = 120;
/** Pause after a burst of library events before the list is reloaded, ms. */
const EVENT_PAUSE_MS = 300;
/** How often the running time of sessions being recorded is redrawn, ms. */
const RUNNING_TICK_MS = 1000;

const KINDS = ['file', 'live'];
const STATUSES = ['queued', 'processing', 'recording', 'complete', 'error', 'interrupted'];

function select(id, label, values) {
  return [
    h('label', { for: id }, label),
    h('select', { id }, h('option', { value: '' }, 'Any'), values.map((v) => h('option', { value: v }, v))),
  ];
}

/** Start of the day of a date input, in ms; the day after for an inclusive end. */
function dayMs(input, nextDay = false) {
  if (!input.value) return undefined;
  const date = new Date(`${input.value}T00:00:00`);
  if (nextDay) date.setDate(date.getDate() + 1);
  return date.getTime();
}

function snippet(pieces) {
  return pieces.map((p) => (p.hit ? h('mark', {}, p.text) : p.text));
}

function sessionMeta(s) {
  // A session being recorded shows how long it has run, kept current by `tickRecording`.
  const length = s.status === 'recording'
    ? h('span', { class: 'running', dataset: { since: String(s.created_ms) } }, ` · ${clock(Date.now() - s.created_ms)}`)
    : s.duration_ms != null ? ` · ${clock(s.duration_ms)}` : '';
  return h('p', { class: 'meta' },
    h('time', { datetime: new Date(s.created_ms).toISOString() }, when(s.created_ms)),
    length,
    ` · ${s.kind} · `,
    badge(s.status),
    s.error ? h('span', { class: 'error' }, ` ${s.error}`) : '');
}

export async function libraryView(root) {
  const search = h('input', { id: 'search', type: 'search', autocomplete: 'off', placeholder: 'Search titles, transcripts and summaries' });
  const kind = select('filter-kind', 'Kind', KINDS);
  const status = select('filter-status', 'Status', STATUSES);
  const from = h('input', { id: 'filter-from', type: 'date' });
  const to = h('input', { id: 'filter-to', type: 'date' });
  const speaker = h('input', { id: 'filter-speaker', type: 'text', autocomplete: 'off', placeholder: 'Name or number' });
  const results = h('ul', { id: 'results', class: 'results', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Show more');
  const note = h('p', { class: 'note', role: 'status' });
  const waiting = h('div', { id: 'unsent' });

  fill(root,
    h('h1', {}, 'Library'),
    waiting,
    h('form', { class: 'search', role: 'search', onsubmit: (e) => e.preventDefault() },
      h('label', { for: 'search', class: 'visually-hidden' }, 'Search'),
      search,
      h('details', { class: 'filters' },
        h('summary', {}, 'Filters'),
        h('div', { class: 'filter-grid' },
          kind, status,
          h('label', { for: 'filter-from' }, 'From'), from,
          h('label', { for: 'filter-to' }, 'To'), to,
          h('label', { for: 'filter-speaker' }, 'Speaker (search)'), speaker))),
    note,
    results,
    more);

  let cursor = null;
  let offset = 0;
  let inFlight = null;

  function filters() {
    return {
      kind: kind[1].value,
      status: status[1].value,
      from_ms: dayMs(from),
      before_ms: dayMs(to, true),
    };
  }

  async function load(append = false) {
    inFlight?.abort();
    const controller = new AbortController();
    inFlight = controller;
    const q = search.value;
    try {
      if (q.trim()) await loadSearch(q, append, controller.signal);
      else await loadList(append, controller.signal);
    } catch (err) {
      if (err.name === 'AbortError') return;
      fill(note, h('span', { class: 'error' }, q.trim() && err.status === 0 ? 'Search needs the daemon, which cannot be reached.' : err.message));
      if (!append) fill(results);
      more.hidden = true;
    }
  }

  async function loadList(append, signal) {
    const body = await api(`/api/v1/sessions${query({ ...filters(), limit: LIST_PAGE, cursor: append ? cursor : undefined })}`, { signal });
    cursor = body.next_cursor;
    const items = body.sessions.map((s) =>
      h('li', { class: 'session', dataset: { id: s.id } },
        h('a', { href: `#/session/${encodeURIComponent(s.id)}`, class: 'title' }, s.title || 'Untitled'),
        sessionMeta(s)));
    if (append) results.append(...items);
    else fill(results, items);
    fill(note, body.total === 0 ? 'No sessions yet. Record one, upload a file, or drop files in the inbox folder.' : `${body.total} sessions`);
    more.hidden = !cursor;
  }

  async function loadSearch(q, append, signal) {
    offset = append ? offset : 0;
    const params = { q, ...filters(), speaker: speaker.value.trim(), limit: SEARCH_PAGE, offset };
    const body = await api(`/api/v1/search${query(params)}`, { signal });
    const items = body.sessions.map((s) =>
      h('li', { class: 'result', dataset: { id: s.session_id } },
        h('a', { href: `#/session/${encodeURIComponent(s.session_id)}`, class: 'title' }, s.title || 'Untitled'),
        sessionMeta(s),
        h('ul', { class: 'hits' }, s.hits.map((hit) =>
          h('li', {},
            h('a', {
              class: 'hit',
              href: `#/session/${encodeURIComponent(s.session_id)}${hit.start_ms != null ? `?t=${hit.start_ms}` : ''}`,
            },
            h('span', { class: 'hit-where' },
              hit.start_ms != null ? clock(hit.start_ms) : hit.field,
              hit.speaker ? ` ${hit.speaker}` : ''),
            ' ',
            h('span', { class: 'snippet' }, snippet(hit.snippet))))))));
    offset += body.sessions.length;
    if (append) results.append(...items);
    else fill(results, items);
    fill(note, body.total === 0 ? `Nothing matches “${q.trim()}”.` : `${body.total} sessions match`);
    more.hidden = !(offset < body.total);
  }

  async function showUnsent() {
    const queued = await unsent.waiting().catch(() => []);
    fill(waiting, queued.length === 0 ? '' : h('section', { class: 'card unsent', 'aria-labelledby': 'unsent-h' },
      h('h2', { id: 'unsent-h' }, `Waiting to upload from this browser (${queued.length})`),
      h('ul', {}, queued.map((r) => h('li', {},
        `${r.title || 'Browser recording'} · ${when(r.createdMs)} · ${clock((r.samples / r.sampleRate) * 1000)}`,
        r.error ? h('span', { class: 'error' }, ` ${r.error}`) : '')))));
  }

  const typed = debounce(() => load(), TYPING_PAUSE_MS);
  search.addEventListener('input', typed);
  for (const input of [kind[1], status[1], from, to, speaker]) input.addEventListener('change', () => load());
  more.addEventListener('click', () => load(true));

  const refresh = debounce(() => load(), EVENT_PAUSE_MS);
  const unsubscribe = subscribe((event) => {
    const searching = Boolean(search.value.trim());
    if (event.type === 'reload') refresh();
    else if (!searching && ['library', 'job', 'live'].includes(event.type) && event.status !== 'connected') refresh();
    else if (searching && event.type === 'indexed') refresh();
  });
  const unwatch = unsent.onChange(showUnsent);

  const ticker = setInterval(() => {
    for (const el of results.querySelectorAll('.running')) el.textContent = ` · ${clock(Date.now() - Number(el.dataset.since))}`;
  }, RUNNING_TICK_MS);

  await Promise.all([load(), showUnsent()]);
  return {
    leave() {
      clearInterval(ticker);
      unsubscribe();
      unwatch();
      inFlight?.abort();
    },
  };
}
