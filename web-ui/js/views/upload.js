// Upload: drop several files (or pick them), each sent with its own progress bar, then
// followed through the daemon's job events to `complete` or a readable error.

import { h, fill, bytes, badge } from '../dom.js';
import { upload } from '../api.js';
import { subscribe } from '../events.js';

/** Uploads at a time: the daemon queues them anyway; two keep the link busy. */
const PARALLEL = 2;

/** `3 min` or `40 s`: a rough time left. */
function roughly(secs) {
  return secs >= 90 ? `${Math.round(secs / 60)} min` : `${Math.max(1, Math.round(secs))} s`;
}

/** A job event as the row's state: its status, then how far it has got or why it failed. */
function describe(event, name) {
  const p = event.progress;
  if (event.status === 'processing' && p) {
    const left = p.eta_secs == null ? '' : `, about ${roughly(p.eta_secs)} left`;
    return [badge('transcribing'), ' ',
      h('progress', { class: 'job', max: p.total, value: p.done, 'aria-label': `Transcription of ${name}` }),
      h('span', { class: 'meta' }, ` ${p.percent} % (${p.done} of ${p.total} chunks of speech${left})`)];
  }
  const kind = event.status === 'error' ? 'error' : 'meta';
  return [badge(event.status), event.message ? h('span', { class: kind }, ` ${event.message}`) : ''];
}

export async function uploadView(root) {
  const picker = h('input', { id: 'files', type: 'file', multiple: true, accept: 'audio/*,video/*,.wav,.mp3,.m4a,.flac,.ogg,.opus,.webm,.mp4' });
  const zone = h('div', { id: 'dropzone', class: 'dropzone', tabindex: '0', role: 'button', 'aria-describedby': 'drop-help' },
    h('p', { id: 'drop-help' }, 'Drop audio files here, or press Enter to choose them.'));
  const list = h('ul', { id: 'uploads', class: 'uploads' });
  fill(root,
    h('h1', {}, 'Upload'),
    zone,
    h('p', {}, h('label', { for: 'files' }, 'Or choose files: '), picker),
    list);

  const rows = new Map(); // session id → row updater
  // Job events can come before the upload's own answer: the latest per session is kept.
  const latest = new Map();
  const queue = [];
  let running = 0;

  function addFile(file) {
    const progress = h('progress', { class: 'sent', max: 1, value: 0, 'aria-label': `Upload of ${file.name}` });
    const state = h('span', { class: 'state' }, badge('waiting'));
    const link = h('span');
    list.append(h('li', { class: 'upload' },
      h('span', { class: 'name' }, file.name), ' ', h('span', { class: 'meta' }, bytes(file.size)), ' ', progress, ' ', state, ' ', link));
    queue.push({ file, progress, state, link });
    pump();
  }

  async function pump() {
    while (running < PARALLEL && queue.length > 0) {
      const item = queue.shift();
      running += 1;
      send(item).finally(() => {
        running -= 1;
        pump();
      });
    }
  }

  async function send({ file, progress, state, link }) {
    fill(state, badge('uploading'));
    try {
      const answer = await upload(`/api/v1/uploads?name=${encodeURIComponent(file.name)}`, file, (f) => { progress.value = f; });
      progress.value = 1;
      const id = answer.session_id;
      fill(link, h('a', { href: `#/session/${encodeURIComponent(id)}` }, 'Open'));
      fill(state, badge(answer.duplicate ? 'duplicate' : 'queued'));
      const show = (event) => fill(state, ...describe(event, file.name));
      rows.set(id, show);
      if (latest.has(id)) show(latest.get(id));
    } catch (err) {
      fill(state, badge('error'), h('span', { class: 'error' }, ` ${err.message}`));
    }
  }

  const unsubscribe = subscribe((event) => {
    if (event.type !== 'job') return;
    latest.set(event.session_id, event);
    rows.get(event.session_id)?.(event);
  });

  picker.addEventListener('change', () => {
    [...picker.files].forEach(addFile);
    picker.value = '';
  });
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      picker.click();
    }
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    [...(e.dataTransfer?.files ?? [])].forEach(addFile);
  });

  return { leave: unsubscribe };
}
