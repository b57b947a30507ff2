// One session: editable title, the audio with its waveform, the transcript (click a word to
// hear it; the word being played is highlighted), speaker names, the summary with action
// items that jump to their moment, exports, re-transcription and deletion.

import { h, fill, clock, when, badge, debounce, speakerName } from '../dom.js';
import { api, isOnline } from '../api.js';
import { subscribe } from '../events.js';

/** Words fetched per request (the API's largest page). */
const WORDS_PAGE = 10000;
/** Waveform points: about one per pixel of a wide screen. */
const WAVEFORM_POINTS = 1200;
/** A pause this long starts a new paragraph even within one speaker's turn, ms: the daemon
 * says (`paragraph_gap_ms` with the words, the exports' rule); this is for an older daemon. */
const DEFAULT_PARAGRAPH_GAP_MS = 3000;
const EXPORTS = [['txt', 'Text'], ['srt', 'SubRip (srt)'], ['vtt', 'WebVTT'], ['json', 'JSON'], ['md', 'Markdown']];

/** Every word of a transcript version (the newest when `version` is null), and the pause
 * that starts a paragraph. */
async function allWords(id, version = null) {
  const words = [];
  let paragraphGapMs = DEFAULT_PARAGRAPH_GAP_MS;
  let offset = 0;
  const which = version == null ? '' : `&version=${version}`;
  for (;;) {
    const page = await api(`/api/v1/sessions/${encodeURIComponent(id)}/words?offset=${offset}&limit=${WORDS_PAGE}${which}`);
    words.push(...page.words);
    if (Number.isFinite(page.paragraph_gap_ms)) paragraphGapMs = page.paragraph_gap_ms;
    if (page.next_offset == null) return { words, paragraphGapMs };
    offset = page.next_offset;
  }
}

/** Index of the last word starting at or before `ms` (-1 before the first). */
function wordAt(words, ms) {
  let lo = 0;
  let hi = words.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (words[mid].start_ms <= ms) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

export async function sessionView(root, { arg: id, params }) {
  // Listening starts before loading, so an event between the load and the view being ready
  // (a summary completing, say) is kept and applied, not lost.
  const early = [];
  let onEvent = (event) => early.push(event);
  const unsubscribe = subscribe((event) => onEvent(event));
  try {
    return await build(root, id, params, (handler) => {
      onEvent = handler;
      early.splice(0).forEach(handler);
    }, unsubscribe);
  } catch (err) {
    unsubscribe();
    throw err;
  }
}

async function build(root, id, params, listen, unsubscribe) {
  const path = `/api/v1/sessions/${encodeURIComponent(id)}`;
  const [detail, fetched] = await Promise.all([api(path), allWords(id)]);
  const words = fetched.words;
  let paragraphGapMs = fetched.paragraphGapMs;
  /** Shows another version's words (`null`: the newest). */
  async function loadWords(version) {
    const next = await allWords(id, version);
    words.splice(0, words.length, ...next.words);
    paragraphGapMs = next.paragraphGapMs;
  }
  const s = detail.session;
  // Served from the offline cache: show, but offer no changes the daemon cannot take.
  const readOnly = !isOnline();
  const status = h('p', { class: 'note', role: 'status', 'aria-live': 'polite' });
  const say = (...text) => fill(status, ...text);
  const fail = (err) => fill(status, h('span', { class: 'error' }, err.message));

  // Title.
  const title = h('input', { id: 'title', class: 'title-input', value: s.title, 'aria-label': 'Title', maxlength: 500, readOnly });
  async function saveTitle() {
    const next = title.value.trim();
    if (!next || next === s.title) return;
    try {
      await api(path, { method: 'PATCH', body: { title: next } });
      s.title = next;
      say('Title saved.');
    } catch (err) {
      fail(err);
    }
  }
  title.addEventListener('change', saveTitle);
  title.addEventListener('keydown', (e) => e.key === 'Enter' && title.blur());

  // Pin: a pinned session keeps its audio whatever the retention rules say.
  const pin = h('input', { type: 'checkbox', id: 'pin', checked: Boolean(detail.pinned), disabled: readOnly });
  pin.addEventListener('change', async () => {
    try {
      await api(path, { method: 'PATCH', body: { pinned: pin.checked } });
      say(pin.checked ? 'Pinned: this session keeps its audio.' : 'Unpinned: the retention rules apply to its audio.');
    } catch (err) {
      pin.checked = !pin.checked;
      fail(err);
    }
  });

  // Audio and waveform; once retention removed the audio, only the transcript stays.
  const removed = detail.audio?.state === 'removed' ? detail.audio.removed : null;
  const audio = detail.audio && !removed ? h('audio', { id: 'player', controls: true, preload: 'metadata', src: detail.audio.url }) : null;
  const canvas = audio ? h('canvas', { id: 'waveform', class: 'waveform', role: 'img', 'aria-label': 'Waveform of the recording; click to seek' }) : null;
  let peaks = null;
  let peakWindowMs = 0;

  function drawWaveform() {
    if (!canvas || !peaks) return;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth * ratio;
    const height = canvas.clientHeight * ratio;
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext('2d');
    const styles = getComputedStyle(canvas);
    const played = audio.duration ? audio.currentTime / audio.duration : 0;
    const bar = width / peaks.length;
    for (let i = 0; i < peaks.length; i += 1) {
      const amp = Math.max(1, (peaks[i] / 255) * height);
      ctx.fillStyle = i / peaks.length < played ? styles.getPropertyValue('--accent') : styles.getPropertyValue('--muted');
      ctx.fillRect(i * bar, (height - amp) / 2, Math.max(1, bar - ratio * 0.5), amp);
    }
  }

  function seek(ms, play = true) {
    if (!audio) return;
    audio.currentTime = ms / 1000;
    highlight();
    if (play) audio.play().catch(() => {});
  }

  canvas?.addEventListener('click', (e) => {
    const fraction = e.offsetX / canvas.clientWidth;
    const total = audio.duration ? audio.duration * 1000 : peaks ? peaks.length * peakWindowMs : 0;
    seek(fraction * total);
  });

  // Transcript.
  const transcript = h('div', { id: 'transcript', class: 'transcript' });
  const spans = [];
  let currentWord = -1;
  function renderTranscript() {
    spans.length = 0;
    currentWord = -1;
    const paragraphs = [];
    let para = null;
    words.forEach((w, i) => {
      const prev = words[i - 1];
      if (!para || w.speaker !== prev.speaker || w.start_ms - prev.end_ms > paragraphGapMs) {
        para = { speaker: w.speaker, start: w.start_ms, spans: [] };
        paragraphs.push(para);
      }
      const span = h('span', { class: 'w', dataset: { i: String(i) } }, w.punctuated || w.text);
      spans.push(span);
      para.spans.push(span, ' ');
    });
    fill(transcript, words.length === 0
      ? h('p', { class: 'note' }, s.status === 'complete' ? 'No speech was found in this recording.' : 'The transcript is not ready yet.')
      : paragraphs.map((p) => h('p', { class: 'para' },
        h('button', { type: 'button', class: 'stamp', 'aria-label': `Play from ${clock(p.start)}`, onclick: () => seek(p.start) }, clock(p.start)),
        p.speaker != null ? h('strong', { class: `speaker speaker-${p.speaker % 8}` }, speakerName(detail.speakers, p.speaker), ': ') : '',
        p.spans)));
  }
  transcript.addEventListener('click', (e) => {
    const span = e.target.closest('.w');
    if (span) seek(words[Number(span.dataset.i)].start_ms);
  });

  const follow = h('input', { id: 'follow', type: 'checkbox', checked: true });
  function highlight() {
    if (!audio) return;
    const i = wordAt(words, audio.currentTime * 1000);
    if (i === currentWord) return;
    spans[currentWord]?.classList.remove('current');
    spans[currentWord]?.removeAttribute('aria-current');
    currentWord = i;
    const span = spans[i];
    if (span) {
      span.classList.add('current');
      span.setAttribute('aria-current', 'true');
      if (follow.checked && !audio.paused) span.scrollIntoView({ block: 'nearest' });
    }
    drawWaveform();
  }
  let frame = 0;
  function tick() {
    highlight();
    frame = audio && !audio.paused ? requestAnimationFrame(tick) : 0;
  }
  audio?.addEventListener('play', () => { frame ||= requestAnimationFrame(tick); });
  audio?.addEventListener('seeked', highlight);
  audio?.addEventListener('timeupdate', highlight);
  audio?.addEventListener('loadedmetadata', drawWaveform);

  // Speakers.
  const speakerIds = [...new Set(words.map((w) => w.speaker).filter((x) => x != null))].sort((a, b) => a - b);
  const speakers = h('section', { class: 'card', 'aria-labelledby': 'speakers-h' },
    h('h2', { id: 'speakers-h' }, 'Speakers'),
    speakerIds.length === 0 ? h('p', { class: 'note' }, 'No speakers were told apart in this transcript.') : speakerIds.map((n) => {
      const input = h('input', { id: `speaker-${n}`, value: speakerName(detail.speakers, n), maxlength: 100 });
      // Whether the name came from a voice profile, or the voice is new to the profiles.
      const voice = detail.speakers.find((x) => x.speaker === n)?.voice;
      const voiceNote = voice ? (voice.recognised ? `recognised as ${voice.profile}` : voice.enrolled ? `in the profile ${voice.profile}` : 'new voice') : '';
      const forget = voice?.enrolled ? h('button', { type: 'button', class: 'secondary', onclick: async () => {
        try {
          await api(`${path}/speakers/${n}/forget`, { method: 'POST' });
          voice.enrolled = false;
          voice.profile = null;
          say('The voice was taken out of its profile.');
        } catch (err) {
          fail(err);
        }
      } }, 'Forget voice') : '';
      return h('form', { class: 'row', onsubmit: async (e) => {
        e.preventDefault();
        try {
          await api(`${path}/speakers/${n}`, { method: 'PUT', body: { name: input.value.trim() } });
          const known = detail.speakers.find((x) => x.speaker === n);
          if (known) known.name = input.value.trim();
          else detail.speakers.push({ speaker: n, name: input.value.trim() });
          renderTranscript();
          say('Speaker renamed.');
        } catch (err) {
          fail(err);
        }
      } }, h('label', { for: `speaker-${n}` }, `Speaker ${n + 1}`), input, h('button', { type: 'submit', class: 'secondary' }, 'Rename'),
        voiceNote ? h('small', { class: 'voice', dataset: { speaker: n } }, voiceNote) : '', forget);
    }));

  // Summary.
  const summaryBody = h('div', { id: 'summary' });
  function renderSummary(stored, state) {
    const doc = stored?.summary;
    const parts = [];
    if (state) parts.push(h('p', { class: 'note' }, state));
    if (doc) {
      if (doc.title && doc.title !== s.title) {
        parts.push(h('p', { class: 'suggested' }, 'Suggested title: ', h('em', {}, doc.title), ' ',
          readOnly ? '' : h('button', { type: 'button', class: 'secondary', onclick: () => {
            title.value = doc.title;
            saveTitle().then(() => renderSummary(stored, state));
          } }, 'Use it')));
      }
      if (doc.overview) parts.push(h('p', { class: 'overview' }, doc.overview));
      if (doc.key_points?.length) parts.push(h('h3', {}, 'Key points'), h('ul', {}, doc.key_points.map((p) => h('li', {}, p))));
      if (doc.action_items?.length) {
        parts.push(h('h3', {}, 'Action items'), h('ul', { class: 'actions' }, doc.action_items.map((a) => h('li', {},
          a.at_ms != null ? h('button', { type: 'button', class: 'stamp', 'aria-label': `Play from ${clock(a.at_ms)}`, onclick: () => seek(a.at_ms) }, clock(a.at_ms)) : '',
          ' ', a.text, a.owner ? h('span', { class: 'owner' }, ` — ${a.owner}`) : ''))));
      }
      if (doc.decisions?.length) parts.push(h('h3', {}, 'Decisions'), h('ul', {}, doc.decisions.map((d) => h('li', {}, d))));
      if (stored.model) parts.push(h('p', { class: 'meta' }, `${stored.model}${stored.created_ms ? ` · ${when(stored.created_ms)}` : ''}`));
    } else if (!state) {
      parts.push(h('p', { class: 'note' }, 'No summary yet.'));
    }
    fill(summaryBody, parts);
  }
  const summaryState = (st) => {
    if (!st) return '';
    if (st.state === 'failed') return `The last summary failed: ${st.message ?? 'unknown error'}`;
    if (st.state === 'queued' || st.state === 'running') return 'Writing the summary…';
    if (st.state === 'empty') return 'Too little speech to summarise.';
    return '';
  };
  renderSummary(detail.summary, summaryState(detail.summary_status));
  const regenerate = h('button', { type: 'button', class: 'secondary', onclick: async () => {
    try {
      await api(`${path}/summary`, { method: 'POST', body: {} });
      renderSummary(detail.summary, 'Writing the summary…');
    } catch (err) {
      fail(err);
    }
  } }, detail.summary ? 'Regenerate summary' : 'Summarise');

  // Exports, versions, re-transcription, deletion.
  // The version shown (null: the newest); exports follow it.
  let shownVersion = null;
  const exportsList = h('ul', { class: 'exports' });
  function renderExports() {
    const which = shownVersion == null ? '' : `&version=${shownVersion}`;
    fill(exportsList, EXPORTS.map(([format, label]) =>
      h('li', {}, h('a', { href: `${path}/export?format=${format}${which}`, download: '' }, label))));
  }
  const providerSelect = h('select', { id: 'provider' });
  api('/api/v1/plugins').then((body) => {
    const batch = body.plugins.filter((p) => p.world === 'stt-batch' && p.state !== 'failed');
    fill(providerSelect, batch.map((p) => h('option', { value: p.id }, `${p.description?.name ?? p.id}${p.configured ? '' : ' (not configured)'}`)));
  }).catch(() => {});
  const retranscribe = h('form', { class: 'row', onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api(`${path}/transcribe`, { method: 'POST', body: { provider: providerSelect.value || undefined } });
      say(`Transcribing again with ${providerSelect.value}; the new version appears here when it is done.`);
    } catch (err) {
      fail(err);
    }
  } }, h('label', { for: 'provider' }, 'Provider'), providerSelect, h('button', { type: 'submit', class: 'secondary' }, 'Transcribe again'));
  const versions = h('ol', { class: 'versions' });
  function renderVersions() {
    const newest = detail.versions.at(-1)?.id;
    const shown = shownVersion ?? newest;
    fill(versions, detail.versions.map((v) => h('li', {},
      `${v.provider} · ${when(v.created_ms)} · ${v.word_count} words `,
      v.id === shown ? h('strong', {}, '(shown)') : h('button', {
        type: 'button', class: 'secondary', 'aria-label': `Show the ${v.provider} version of ${when(v.created_ms)}`, onclick: async () => {
        try {
          const chosen = v.id === newest ? null : v.id;
          await loadWords(chosen);
          shownVersion = chosen;
          renderTranscript();
          renderVersions();
          renderExports();
        } catch (err) {
          fail(err);
        }
      } }, 'Show'))));
  }

  const confirm = h('dialog', { id: 'confirm-delete', 'aria-labelledby': 'confirm-h' },
    h('form', { method: 'dialog' },
      h('h2', { id: 'confirm-h' }, 'Delete this session?'),
      h('p', {}, 'Its audio, transcripts and summary are removed for good.'),
      h('div', { class: 'row' },
        h('button', { value: 'cancel', class: 'secondary', autofocus: true }, 'Cancel'),
        h('button', { value: 'delete', class: 'danger' }, 'Delete'))));
  confirm.addEventListener('close', async () => {
    if (confirm.returnValue !== 'delete') return;
    try {
      await api(path, { method: 'DELETE' });
      location.hash = '#/library';
    } catch (err) {
      fail(err);
    }
  });

  const meta = h('p', { class: 'meta' },
    when(s.created_ms), s.duration_ms != null ? ` · ${clock(s.duration_ms)}` : '', ` · ${s.kind} · `, badge(s.status),
    s.provider ? ` · ${s.provider}` : '', s.error ? h('span', { class: 'error' }, ` ${s.error}`) : '');

  fill(root,
    h('p', {}, h('a', { href: '#/library' }, '← Library')),
    title,
    meta,
    status,
    h('label', { class: 'check' }, pin, ' Pin (keep the audio)'),
    audio ? h('div', { class: 'player' }, audio, canvas)
      : removed ? h('p', { class: 'note', id: 'audio-removed' }, `Audio removed on ${when(removed.removed_ms)} (${removed.reason}); the transcript stays.`)
        : h('p', { class: 'note' }, 'No audio is stored for this session.'),
    h('div', { class: 'columns' },
      h('section', { class: 'card transcript-card', 'aria-labelledby': 'transcript-h' },
        h('div', { class: 'row spread' }, h('h2', { id: 'transcript-h' }, 'Transcript'),
          audio ? h('label', { class: 'check' }, follow, ' Follow playback') : ''),
        transcript),
      h('div', { class: 'side' },
        h('section', { class: 'card', 'aria-labelledby': 'summary-h' },
          h('div', { class: 'row spread' }, h('h2', { id: 'summary-h' }, 'Summary'), readOnly ? '' : regenerate),
          summaryBody),
        readOnly ? '' : speakers,
        h('section', { class: 'card', 'aria-labelledby': 'export-h' }, h('h2', { id: 'export-h' }, 'Export'), exportsList),
        h('section', { class: 'card', 'aria-labelledby': 'versions-h' },
          h('h2', { id: 'versions-h' }, 'Transcript versions'), versions, readOnly ? '' : retranscribe),
        readOnly ? '' : h('section', { class: 'card', 'aria-labelledby': 'danger-h' },
          h('h2', { id: 'danger-h' }, 'Delete'),
          h('button', { type: 'button', class: 'danger', onclick: () => confirm.showModal() }, 'Delete session…')))),
    confirm);

  renderTranscript();
  renderVersions();
  renderExports();
  if (audio) {
    api(`${detail.audio.waveform_url}?points=${WAVEFORM_POINTS}`).then((w) => {
      peaks = w.peaks;
      peakWindowMs = w.window_ms;
      drawWaveform();
    }).catch(() => {});
  }
  const start = Number(params.get('t'));
  if (audio && params.has('t') && Number.isFinite(start)) {
    audio.currentTime = start / 1000;
    audio.addEventListener('loadedmetadata', () => {
      if (Math.abs(audio.currentTime * 1000 - start) > 1) audio.currentTime = start / 1000;
    }, { once: true });
    highlight();
    spans[currentWord]?.scrollIntoView({ block: 'center' });
  }
  const resize = debounce(drawWaveform, 100);
  window.addEventListener('resize', resize);

  const renderLater = debounce(renderTranscript, 250);
  const reload = debounce(async () => {
    try {
      const fresh = await api(path);
      const before = detail.versions.length;
      Object.assign(detail, fresh);
      if (fresh.versions.length !== before || fresh.session.status !== s.status) {
        // A new version is shown as it arrives.
        shownVersion = null;
        await loadWords(null);
        renderTranscript();
        renderVersions();
        renderExports();
      }
      Object.assign(s, fresh.session);
      fill(meta, when(s.created_ms), s.duration_ms != null ? ` · ${clock(s.duration_ms)}` : '', ` · ${s.kind} · `, badge(s.status));
      renderSummary(fresh.summary, summaryState(fresh.summary_status));
    } catch (err) {
      if (err.status === 404) location.hash = '#/library';
    }
  }, 300);
  listen((event) => {
    if (event.type === 'reload') reload();
    if (event.session_id !== id) return;
    if (event.type === 'summary') {
      if (event.status === 'partial' || event.status === 'complete') {
        renderSummary({ summary: event.summary, model: null }, event.status === 'partial' ? 'Writing the summary…' : '');
      } else if (event.status === 'error') {
        renderSummary(detail.summary, `The summary failed: ${event.message ?? 'unknown error'}`);
      } else if (['writing', 'combining', 'retrying', 'queued'].includes(event.status)) {
        renderSummary(detail.summary, `Summary: ${event.status}${event.part ? ` part ${event.part} of ${event.parts}` : ''}${event.message ? ` (${event.message})` : ''}…`);
      }
      if (event.status === 'complete') reload();
    } else if (event.type === 'transcript' && event.is_final && s.status === 'recording') {
      // A session still being recorded grows word by word.
      words.push(...event.words.map((w) => ({ ...w, punctuated: w.text })));
      renderLater();
    } else if (['job', 'live', 'library'].includes(event.type)) {
      reload();
    }
  });

  return {
    leave() {
      unsubscribe();
      window.removeEventListener('resize', resize);
      cancelAnimationFrame(frame);
      audio?.pause();
    },
  };
}
