// Building the page. Every string from the API or the user goes in as a text node: no
// function here ever assigns HTML, so a title like `<img onerror=…>` is shown, not run.

/** h('p', {class: 'x', onclick: fn}, 'text', child, [more]) → element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key in el && typeof value !== 'string') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** `hh:mm:ss` (or `mm:ss` under an hour) of a time in milliseconds. */
export function clock(ms) {
  const total = Math.max(0, Math.floor((ms ?? 0) / 1000));
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const hours = Math.floor(total / 3600);
  const two = (n) => String(n).padStart(2, '0');
  return hours > 0 ? `${hours}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
}

/** A date and time in the reader's locale. */
export function when(ms) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Bytes as B / KB / MB / GB. */
export function bytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = n ?? 0;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** The speaker's display name: the renamed one, else "Speaker N" (numbered from 1). */
export function speakerName(speakers, speaker) {
  if (speaker === null || speaker === undefined) return '';
  const named = speakers?.find((s) => s.speaker === speaker)?.name;
  return named || `Speaker ${speaker + 1}`;
}

/** A status label with a class per status, so colour is never the only signal. */
export function badge(status) {
  return h('span', { class: `badge status-${status}` }, status);
}

/** Delays `fn` until `ms` passed without another call. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
