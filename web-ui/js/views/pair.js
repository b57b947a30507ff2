// Pairing this browser with a daemon that requires a token: the token is typed (or comes
// from the pairing link's `#pair=` fragment, which never reaches a server) and exchanged
// once for an HttpOnly cookie; it is never put in a URL the daemon sees.

import { h, fill } from '../dom.js';
import { api } from '../api.js';

async function pair(token) {
  await api('/api/v1/pair', { method: 'POST', body: { token } });
}

/** Pairs from a `#pair=TOKEN` link, then removes the token from the address bar. */
export async function pairFromFragment() {
  const match = location.hash.match(/^#pair=(.+)$/);
  if (!match) return;
  history.replaceState(null, '', `${location.pathname}#/library`);
  try {
    await pair(decodeURIComponent(match[1]));
  } catch (err) {
    history.replaceState(null, '', `${location.pathname}#/pair`);
    console.warn('pairing link refused', err.message);
  }
}

export async function pairView(root) {
  const input = h('input', { id: 'pair-token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
  const message = h('p', { role: 'status', 'aria-live': 'polite' });
  const form = h('form', { class: 'card pair' },
    h('h1', {}, 'Pair this browser'),
    h('p', {}, 'This daemon requires its API token. Enter it once; this browser keeps it. ',
      'The token was printed when the daemon first started and is in the data folder\'s api-token file; ',
      'the pairing link it printed does this for you.'),
    h('label', { for: 'pair-token' }, 'API token'),
    input,
    h('button', { type: 'submit' }, 'Pair'),
    message,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    fill(message, 'Checking…');
    try {
      await pair(input.value);
      location.hash = '#/library';
    } catch (err) {
      fill(message, h('span', { class: 'error' }, err.message));
    }
  });
  fill(root, form);
  input.focus();
  return {};
}
