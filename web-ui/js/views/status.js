// Status: the plugins with their health and capabilities, which providers have their keys
// (yes or no; a key is never shown), which plugin transcribes live and files, tells speakers
// apart and summarises (with its model) and why, the
// inbox folder, queue depths, the search index, storage used and free space, and the voice profiles (names
// and how many voices each holds; never an embedding), which can be renamed or deleted here.

import { h, fill, bytes, badge } from '../dom.js';
import { api } from '../api.js';

function yesNo(value) {
  return value ? 'yes' : 'no';
}

/** A role's plugin, its model when configured, and why it got the part (`auto` picks by which keys are set). */
function role(choice) {
  if (!choice) return ['none'];
  const model = choice.model ? [' · model ', h('span', { class: 'model' }, choice.model)] : [];
  return [choice.plugin, ...model, ' ', h('small', {}, `(${choice.reason})`)];
}

function capabilities(p) {
  const d = p.description;
  if (!d) return '';
  const caps = [];
  if (d.languages?.length) caps.push(`languages: ${d.languages.join(', ')}`);
  if (d.diarization) caps.push('speakers');
  if (d.word_timing) caps.push('word times');
  if (d.encodings?.length) caps.push(`audio: ${d.encodings.join(', ')}`);
  if (p.model) caps.push(`model: ${p.model}`);
  if (p.granted_outbound?.length) caps.push(`may reach: ${p.granted_outbound.join(', ')}`);
  else caps.push('no network');
  return caps.join(' · ');
}

export async function statusView(root) {
  const [status, plugins, search, voices] = await Promise.all([
    api('/api/v1/status'),
    api('/api/v1/plugins'),
    api('/api/v1/search/status').catch(() => null),
    api('/api/v1/speakers').catch(() => ({ profiles: [] })),
  ]);
  const profiles = h('tbody', {});
  function renderProfiles(list) {
    fill(profiles, list.length === 0
      ? h('tr', {}, h('td', { colspan: 3, class: 'note' }, 'No voice profiles yet: name a speaker in a session to make one.'))
      : list.map((p) => {
        const input = h('input', { value: p.name, maxlength: 100, 'aria-label': `Name of the voice profile ${p.name}` });
        return h('tr', { dataset: { profile: p.id } },
          h('td', {}, h('form', { class: 'row', onsubmit: async (e) => {
            e.preventDefault();
            await api(`/api/v1/speakers/${p.id}`, { method: 'PATCH', body: { name: input.value.trim() } });
            renderProfiles((await api('/api/v1/speakers')).profiles);
          } }, input, h('button', { type: 'submit', class: 'secondary' }, 'Rename'))),
          h('td', { class: 'sessions' }, String(p.sessions)),
          h('td', {}, h('button', { type: 'button', class: 'secondary', onclick: async () => {
            await api(`/api/v1/speakers/${p.id}`, { method: 'DELETE' });
            renderProfiles((await api('/api/v1/speakers')).profiles);
          } }, 'Delete')));
      }));
  }
  renderProfiles(voices.profiles);
  const rows = plugins.plugins.map((p) => h('tr', { dataset: { plugin: p.id } },
    h('th', { scope: 'row' }, p.description?.name ?? p.id, h('br'), h('small', {}, `${p.id} ${p.version}`)),
    h('td', {}, p.world),
    h('td', {}, badge(p.state), p.health?.last_error ? h('small', { class: 'error' }, ` ${p.health.last_error}`) : '', p.error ? h('small', { class: 'error' }, ` ${p.error}`) : ''),
    h('td', { class: 'configured' }, yesNo(p.configured)),
    h('td', {}, capabilities(p))));
  const unpair = h('button', { type: 'button', class: 'secondary', onclick: async () => {
    await api('/api/v1/pair', { method: 'DELETE' });
    location.hash = '#/pair';
  } }, 'Forget this browser');

  fill(root,
    h('h1', {}, 'Status'),
    h('section', { class: 'card', 'aria-labelledby': 'plugins-h' },
      h('h2', { id: 'plugins-h' }, 'Plugins'),
      h('div', { class: 'table-wrap' }, h('table', { id: 'plugins' },
        h('thead', {}, h('tr', {}, ['Plugin', 'Role', 'Health', 'Configured', 'Capabilities'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, rows)))),
    h('section', { class: 'card', 'aria-labelledby': 'daemon-h' },
      h('h2', { id: 'daemon-h' }, 'Daemon'),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Version'), h('dd', {}, status.version),
        h('dt', {}, 'Live transcription'), h('dd', { id: 'role-live' }, ...role(status.roles.stt_live)),
        h('dt', {}, 'File transcription'), h('dd', { id: 'role-batch' }, ...role(status.roles.stt_batch)),
        h('dt', {}, 'Speakers'), h('dd', { id: 'role-diarizer' }, ...role(status.roles.diarizer)),
        h('dt', {}, 'Summaries'), h('dd', { id: 'role-summarizer' }, ...role(status.roles.summarizer)),
        h('dt', {}, 'Inbox folder'), h('dd', { id: 'inbox' }, status.inbox ?? 'off'),
        h('dt', {}, 'Files waiting or transcribing'), h('dd', { id: 'queue-files' }, String(status.queues.files ?? '—')),
        h('dt', {}, 'Summaries waiting or being written'), h('dd', {}, String(status.queues.summaries ?? '—')),
        h('dt', {}, 'Live sessions'), h('dd', {}, String(status.live_sessions)),
        h('dt', {}, 'Search index'), h('dd', {}, search ? `${search.documents} documents, ${search.up_to_date ? 'up to date' : 'catching up'}` : '—'),
        h('dt', {}, 'Storage used'), h('dd', { id: 'storage' },
          `${bytes(status.storage.total_bytes)} (audio ${bytes(status.storage.audio_bytes)}, index ${bytes(status.storage.index_bytes)}, models ${bytes(status.storage.models_bytes)})`),
        h('dt', {}, 'Free space'), h('dd', { id: 'disk-free' },
          `${status.disk.free_mb} MiB free, keeping ${status.disk.min_free_mb} MiB`,
          status.disk.low ? h('strong', { class: 'error' }, ' — too little: new recordings and files wait') : ''),
        h('dt', {}, 'Data folder'), h('dd', {}, status.data_dir),
        h('dt', {}, 'Token required'), h('dd', {}, yesNo(status.token_required), ' ', status.token_required ? unpair : ''))),
    h('section', { class: 'card', 'aria-labelledby': 'voices-h' },
      h('h2', { id: 'voices-h' }, 'Voice profiles'),
      h('p', { class: 'note' }, 'A name given to a speaker is remembered with their voice; later sessions get it when the voice matches.'),
      h('div', { class: 'table-wrap' }, h('table', { id: 'voices' },
        h('thead', {}, h('tr', {}, ['Name', 'Sessions', ''].map((c) => h('th', { scope: 'col' }, c)))),
        profiles))));
  return {};
}
