// Live: record on one of the daemon's microphones or on this browser's, with a level meter,
// elapsed time, the state of the daemon and provider connections, and the transcript as it
// comes: interim words shown as provisional until their final version replaces them.

import { h, fill, clock, speakerName } from '../dom.js';
import { api } from '../api.js';
import { subscribe } from '../events.js';
import { BrowserRecorder } from '../recorder.js';

const BROWSER = 'browser';
/** Elapsed-time refresh, ms. */
const CLOCK_TICK_MS = 250;
/** Meter gain: speech RMS sits around 0.05-0.2 of full scale; ×4 puts it mid-meter. */
const LEVEL_GAIN = 4;
/** Events kept while a daemon-microphone session's id is not known yet: a few seconds' worth. */
const RECENT_EVENTS = 200;

const STATES = {
  connecting: 'Connecting to the daemon…',
  live: 'Recording — transcribing live',
  local: 'The daemon cannot be reached — recording in this browser; it is uploaded when the daemon is back',
  stopping: 'Stopping…',
  saved: 'Saved',
  kept: 'Kept in this browser; it is uploaded when the daemon is back',
};

/** The view of a recording that goes on while another page is shown: its nodes and handle. */
let background = null;

function markRecording(on) {
  document.querySelector('nav a[data-route="live"]')?.classList.toggle('recording', on);
}

export async function liveView(root) {
  // Back to a recording that went on meanwhile: the same view, still running.
  if (background) {
    root.append(...background.nodes);
    const { view } = background;
    background = null;
    return view;
  }
  const source = h('select', { id: 'source' }, h('option', { value: BROWSER }, 'This browser\'s microphone'));
  const title = h('input', { id: 'live-title', type: 'text', autocomplete: 'off', maxlength: 500, placeholder: 'Optional' });
  const button = h('button', { type: 'submit', id: 'record', class: 'record' }, 'Start recording');
  const meter = h('meter', { id: 'level', min: 0, max: 1, low: 0.6, high: 0.9, optimum: 0.3, value: 0, 'aria-label': 'Input level' });
  const elapsed = h('span', { id: 'elapsed', class: 'elapsed', 'aria-label': 'Elapsed time' }, '00:00');
  const daemonState = h('span', { id: 'daemon-state' }, 'idle');
  const providerState = h('span', { id: 'provider-state' }, '—');
  const finals = h('div', { id: 'live-finals' });
  const interim = h('p', { id: 'live-interim', class: 'interim', 'aria-label': 'Provisional words' });
  const result = h('p', { id: 'live-result', role: 'status', 'aria-live': 'polite' });

  fill(root,
    h('h1', {}, 'Live'),
    h('form', { class: 'card live-controls' },
      h('div', { class: 'filter-grid' },
        h('label', { for: 'source' }, 'Microphone'), source,
        h('label', { for: 'live-title' }, 'Title'), title),
      h('div', { class: 'row' }, button, elapsed, meter),
      h('dl', { class: 'states' },
        h('dt', {}, 'Daemon'), h('dd', {}, daemonState),
        h('dt', {}, 'Provider'), h('dd', {}, providerState))),
    result,
    h('section', { class: 'card', 'aria-labelledby': 'live-h' },
      h('h2', { id: 'live-h' }, 'Transcript'),
      h('div', { class: 'live-transcript', 'aria-live': 'polite' }, finals, interim)));

  api('/api/v1/devices').then((body) => {
    for (const d of body.devices ?? []) {
      source.append(h('option', { value: `daemon:${d.id ?? d.name}` }, `Daemon: ${d.name}${d.default ? ' (default)' : ''}`));
    }
  }).catch(() => {});

  let recorder = null;
  let daemonSession = null;
  let sessionId = null;
  let startedAt = 0;
  let clockTimer = 0;
  let lastSpeaker = null;

  function showState(state, detail) {
    fill(daemonState, STATES[state] ?? state);
    if (state === 'live') sessionId = detail;
    if (state === 'saved' && detail) {
      fill(result, 'Saved. ', h('a', { href: `#/session/${encodeURIComponent(detail)}` }, 'Open the session'));
    } else if (state === 'kept') {
      fill(result, STATES.kept);
    }
  }

  function onEvent(event) {
    if (event.session_id && sessionId && event.session_id !== sessionId) return;
    if (event.type === 'transcript') {
      const text = event.words.map((w) => w.punctuated || w.text).join(' ');
      if (event.is_final) {
        const speaker = event.words[0]?.speaker ?? null;
        if (text) {
          if (speaker !== lastSpeaker || !finals.lastElementChild) {
            finals.append(h('p', { class: 'final' },
              speaker != null ? h('strong', { class: `speaker speaker-${speaker % 8}` }, speakerName([], speaker), ': ') : '',
              h('span', {}, text)));
            lastSpeaker = speaker;
          } else {
            finals.lastElementChild.lastElementChild.append(` ${text}`);
          }
        }
        fill(interim);
      } else {
        fill(interim, text);
      }
    } else if (event.type === 'level' && !recorder) {
      showLevel(event.rms);
    } else if (event.type === 'live') {
      if (['connected', 'reconnecting', 'offline', 'behind'].includes(event.status)) {
        fill(providerState, event.status + (event.message ? ` (${event.message})` : ''));
      } else if (daemonSession && ['complete', 'queued', 'error', 'interrupted'].includes(event.status)) {
        showState('saved', daemonSession);
        daemonSession = null;
      }
    }
  }

  // The daemon microphone's session reports on the shared feed; the browser's on its socket.
  // Its first events can come before the answer naming it, so recent ones are kept.
  const recent = [];
  const unsubscribe = subscribe((event) => {
    if (daemonSession && event.session_id === daemonSession) onEvent(event);
    else if (!daemonSession && event.session_id) {
      recent.push(event);
      if (recent.length > RECENT_EVENTS) recent.shift();
    }
  });

  function showLevel(rms) {
    meter.value = Math.min(1, rms * LEVEL_GAIN);
  }

  function tickClock() {
    fill(elapsed, clock(Date.now() - startedAt));
  }

  async function start() {
    fill(finals);
    fill(interim);
    fill(result);
    fill(providerState, '—');
    lastSpeaker = null;
    sessionId = null;
    if (source.value === BROWSER) {
      recorder = new BrowserRecorder({
        title: title.value.trim(),
        onState: showState,
        onLevel: showLevel,
        onEvent,
      });
      await recorder.start();
    } else {
      const body = await api('/api/v1/live', { method: 'POST', body: { device: source.value.slice('daemon:'.length), title: title.value.trim() || undefined } });
      daemonSession = body.id;
      sessionId = body.id;
      showState('live', body.id);
      recent.splice(0).filter((e) => e.session_id === body.id).forEach(onEvent);
    }
    startedAt = Date.now();
    clockTimer = setInterval(tickClock, CLOCK_TICK_MS);
    fill(button, 'Stop recording');
    button.classList.add('recording');
    source.disabled = true;
    markRecording(true);
  }

  async function stop() {
    clearInterval(clockTimer);
    fill(button, 'Start recording');
    button.classList.remove('recording');
    button.disabled = true;
    try {
      if (recorder) await recorder.stop();
      else if (daemonSession) {
        await api(`/api/v1/live/${encodeURIComponent(daemonSession)}/stop`, { method: 'POST' });
        fill(daemonState, STATES.stopping);
      }
    } finally {
      markRecording(false);
      recorder = null;
      meter.value = 0;
      button.disabled = false;
      source.disabled = false;
    }
  }

  root.querySelector('form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      if (recorder || (daemonSession && button.classList.contains('recording'))) await stop();
      else await start();
    } catch (err) {
      clearInterval(clockTimer);
      markRecording(false);
      recorder = null;
      fill(button, 'Start recording');
      button.classList.remove('recording');
      source.disabled = false;
      fill(result, h('span', { class: 'error' }, `Could not record: ${err.message}`));
    }
  });

  const view = {
    leave() {
      // A recording goes on while other pages are shown; the Live tab is marked meanwhile.
      if (button.classList.contains('recording')) {
        background = { nodes: [...root.childNodes], view };
        return;
      }
      unsubscribe();
      clearInterval(clockTimer);
    },
  };
  return view;
}
