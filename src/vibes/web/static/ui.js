// Small shared pieces: Markdown through the sanitiser, highlighted snippets, dates, fields.
import { html, useEffect, useRef, useState } from './vendor/preact-htm.js';
import * as api from './api.js';
import { Marked } from './vendor/marked.js';
import DOMPurify from './vendor/purify.js';
import { navigate, userZone } from './state.js';

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);

// Raw HTML inside Markdown is shown as the text it is, never parsed as markup; the
// sanitiser then cleans what Markdown itself produced (links, images) as a second wall.
const markdown = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    html(token) {
      return escapeHtml(token.text);
    },
  },
});

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.getAttribute('href')) {
    node.setAttribute('rel', 'noopener noreferrer nofollow');
    node.setAttribute('target', '_blank');
  }
});

/**
 * Markdown to DOM nodes the sanitiser has cleaned: no script, handler or javascript: URL.
 * Images load only from this server or inline data: anything else would be a request to
 * a third party (the CSP refuses it anyway), so it becomes its alt text. That pass runs
 * on the sanitised fragment, never inside the sanitiser's own walk.
 */
export function renderMarkdown(text) {
  const raw = markdown.parse(text || '');
  const fragment = DOMPurify.sanitize(raw, {
    USE_PROFILE: { html: true },
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select'],
    FORBID_ATTR: ['style'],
    RETURN_DOM_FRAGMENT: true,
  });
  for (const img of fragment.querySelectorAll('img')) {
    const src = img.getAttribute('src') || '';
    if (/^data:image\/(png|gif|jpe?g|webp);/i.test(src) || /^\/(?!\/)/.test(src)) continue;
    const alt = img.getAttribute('alt');
    img.replaceWith(document.createTextNode(alt ? `[image: ${alt}]` : '[image]'));
  }
  return fragment;
}

export function Markdown({ text, class: className = 'prose' }) {
  const ref = useRef(null);
  useEffect(() => {
    if (ref.current) ref.current.replaceChildren(renderMarkdown(text));
  }, [text]);
  return html`<div class=${className} ref=${ref}></div>`;
}

/** Plain text of the first lines of Markdown, for a card's excerpt (rendered as text). */
export function excerpt(text, length = 220) {
  const plain = (text || '')
    .replace(/```[\s\S]*?```/g, ' ')
    .replace(/!\[[^\]]*\]\([^)]*\)/g, ' ')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[*_`~]+/g, '')
    .replace(/(^|\n)\s*([#>]+|[-+] |\d+\. )/g, '$1 ')
    .replace(/[|]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return plain.length > length ? `${plain.slice(0, length).trimEnd()}…` : plain;
}

/** A snippet with its [start, end) code-point ranges wrapped in <mark> (as text nodes). */
export function Highlighted({ text, ranges }) {
  const chars = Array.from(text || '');
  const parts = [];
  let at = 0;
  for (const [start, end] of [...(ranges || [])].sort((a, b) => a[0] - b[0])) {
    if (start < at) continue;
    if (start > at) parts.push(chars.slice(at, start).join(''));
    parts.push(html`<mark>${chars.slice(start, end).join('')}</mark>`);
    at = end;
  }
  if (at < chars.length) parts.push(chars.slice(at).join(''));
  return html`<span>${parts}</span>`;
}

export function wordCount(text) {
  const words = (text || '').match(/[\p{L}\p{N}][\p{L}\p{N}'’_-]*/gu);
  return words ? words.length : 0;
}

// --- dates ------------------------------------------------------------------------

export function formatDay(iso, options = {}) {
  return new Date(iso).toLocaleDateString(undefined, {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    ...options,
  });
}

export function formatDateTime(iso, zone = userZone()) {
  return new Date(iso).toLocaleString(undefined, {
    timeZone: zone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
  });
}

/** YYYY-MM-DD of an instant in the browser's zone. */
export function localDay(iso) {
  const d = iso ? new Date(iso) : new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** An entry date picked as a day: noon of that day in the browser's zone, with offset. */
export function dayToInstant(day) {
  const d = new Date(`${day}T12:00:00`);
  return d.toISOString();
}

/** Start (inclusive) and end (exclusive) instants of a local day, for list filters. */
export function dayBounds(day) {
  const start = new Date(`${day}T00:00:00`);
  const end = new Date(start);
  end.setDate(end.getDate() + 1);
  return [start.toISOString(), new Date(end.getTime() - 1).toISOString()];
}

function zoneOffset(zone, utcMillis) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(utcMillis));
  const v = Object.fromEntries(parts.map((p) => [p.type, Number(p.value)]));
  const asUtc = Date.UTC(v.year, v.month - 1, v.day, v.hour, v.minute, v.second);
  return asUtc - utcMillis;
}

/** A wall-clock date and time in an IANA zone, as an RFC 3339 instant (UTC). */
export function zonedToInstant(day, time, zone) {
  const [y, m, d] = day.split('-').map(Number);
  const [hh, mm] = time.split(':').map(Number);
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  let utc = wall - zoneOffset(zone, wall);
  utc = wall - zoneOffset(zone, utc);
  return new Date(utc).toISOString();
}

/** Date and time (YYYY-MM-DD, HH:MM) of an instant in a zone. */
export function instantInZone(iso, zone) {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  }).formatToParts(new Date(iso));
  const v = Object.fromEntries(parts.map((p) => [p.type, p.value]));
  return [`${v.year}-${v.month}-${v.day}`, `${v.hour}:${v.minute}`];
}

// --- pieces -----------------------------------------------------------------------

/** An in-app link: the router handles it, the browser still sees a real href. */
export function Link({ href, children, onClick: also, ...rest }) {
  const onClick = (event) => {
    also?.(event);
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${onClick} ...${rest}>${children}</a>`;
}

export function ErrorText({ error, id }) {
  if (!error) return null;
  return html`<p class="form-error" role="alert" id=${id}>${error}</p>`;
}

export function moodLabel(mood) {
  return mood ? `Mood ${mood}/10` : '';
}

/** A small padlock, drawn (no emoji font needed). */
export function LockIcon() {
  return html`<svg class="lock-icon" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true" focusable="false">
    <rect x="3" y="7" width="10" height="8" rx="2" fill="currentColor"></rect>
    <path d="M5 7V5a3 3 0 0 1 6 0v2" fill="none" stroke="currentColor" stroke-width="2"></path>
  </svg>`;
}

/** A tag's name with its colour dot (CSSOM styles: allowed by the strict CSP). */
export function TagChip({ name, color, href }) {
  const style = /^#[0-9a-fA-F]{6}$/.test(color || '') ? { '--chip': color } : undefined;
  const dot = html`<span class="dot" aria-hidden="true"></span>`;
  return href
    ? html`<${Link} class="chip" href=${href} style=${style}>${dot}${name}<//>`
    : html`<span class="chip" style=${style}>${dot}${name}</span>`;
}

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// A form action's busy flag and its error, said in words (`api.describe`).
export function useAction() {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const run = (action) => async (event) => {
    event?.preventDefault();
    setError('');
    setBusy(true);
    try {
      await action();
    } catch (failure) {
      setError(api.describe(failure));
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, run, setError };
}
