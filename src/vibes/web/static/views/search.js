// Search: ranked results with the matched words highlighted from the API's `highlights`.
import { html, useEffect, useRef, useState } from '../vendor/preact-htm.js';
import * as api from '../api.js';
import { navigate, useShared } from '../state.js';
import { ErrorText, formatDay, Highlighted, Link } from '../ui.js';

const TYPES = [
  ['all', 'Everything'],
  ['journals', 'Entries'],
  ['reminders', 'Reminders'],
  ['tags', 'Tags'],
];

function hrefOf(hit) {
  if (hit.type === 'journal') return `/entries/${hit.id}`;
  if (hit.type === 'reminder') return '/reminders';
  return `/?tag=${encodeURIComponent(hit.title)}`;
}

export default function Search({ query }) {
  const { vaultVersion } = useShared();
  const q = query.get('q') || '';
  const type = query.get('type') || 'all';
  const [text, setText] = useState(q);
  const [hits, setHits] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState('');
  const input = useRef(null);

  useEffect(() => {
    input.current?.focus();
  }, []);

  useEffect(() => {
    if (!q.trim()) {
      setHits(null);
      return;
    }
    let live = true;
    setError('');
    api.get('/search', { q, type, limit: 20 }).then(
      (page) => {
        if (!live) return;
        setHits(page.items);
        setCursor(page.next_cursor);
      },
      (failure) => live && setError(api.describe(failure)),
    );
    return () => {
      live = false;
    };
  }, [q, type, vaultVersion]);

  const go = (nextQ, nextType = type) => {
    const params = new URLSearchParams();
    if (nextQ.trim()) params.set('q', nextQ.trim());
    if (nextType !== 'all') params.set('type', nextType);
    navigate(`/search${params.toString() ? `?${params}` : ''}`, { replace: true });
  };

  const more = async () => {
    try {
      const page = await api.get('/search', { q, type, limit: 20, cursor });
      setHits([...hits, ...page.items]);
      setCursor(page.next_cursor);
    } catch (failure) {
      setError(api.describe(failure));
    }
  };

  return html`<section aria-labelledby="search-title">
    <div class="page-head"><h1 id="search-title">Search</h1></div>
    <form class="search-box" role="search" onSubmit=${(e) => { e.preventDefault(); go(text); }}>
      <label class="visually-hidden" for="search-input">Search your journal</label>
      <input
        id="search-input"
        ref=${input}
        type="search"
        value=${text}
        placeholder='Words, "a phrase", word*, -word'
        maxlength="256"
        onInput=${(e) => setText(e.currentTarget.value)}
      />
      <button class="primary shrink" type="submit">Search</button>
    </form>
    <div class="segmented" role="group" aria-label="What to search">
      ${TYPES.map(([value, label]) => html`<button
        key=${value}
        type="button"
        aria-pressed=${type === value}
        onClick=${() => go(text, value)}
      >${label}</button>`)}
    </div>
    <${ErrorText} error=${error} />
    <div class="section" aria-live="polite">
      ${hits === null
        ? html`<p class="muted">Tip: press <kbd>/</kbd> anywhere to search.</p>`
        : hits.length === 0
          ? html`<div class="empty-state"><h2>Nothing found</h2><p>Try fewer or other words.</p></div>`
          : html`<ul class="list results">
              ${hits.map((hit) => html`<li key=${hit.type + hit.id} class="result">
                <div><span class="hit-type">${hit.type}</span>
                  <${Link} class="hit-title" href=${hrefOf(hit)}>${hit.title}<//></div>
                <p class="snippet"><${Highlighted} text=${hit.snippet} ranges=${hit.highlights} /></p>
                <span class="muted small">${formatDay(hit.created_at)}</span>
              </li>`)}
            </ul>
            ${cursor && html`<div class="actions"><button onClick=${more}>More results</button></div>`}`}
    </div>
  </section>`;
}
