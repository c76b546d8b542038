// The journal: entries newest first, endless scroll by cursor, filters, local drafts.
import { html, useEffect, useRef, useState } from '../vendor/preact-htm.js';
import * as api from '../api.js';
import { listDrafts } from '../drafts.js';
import { onChanges } from '../feed.js';
import { OnThisDay } from './insights.js';
import { navigate, useShared } from '../state.js';
import {
  dayBounds,
  ErrorText,
  excerpt,
  formatDay,
  Link,
  localDay,
  LockIcon,
  moodLabel,
  TagChip,
} from '../ui.js';

const PAGE = 20;

function filtersOf(query) {
  return {
    tag: query.getAll('tag'),
    from: query.get('from') || '',
    to: query.get('to') || '',
    mood_min: query.get('mood_min') || '',
    mood_max: query.get('mood_max') || '',
  };
}

function apiQuery(filters) {
  return {
    tag: filters.tag,
    from: filters.from ? dayBounds(filters.from)[0] : undefined,
    to: filters.to ? dayBounds(filters.to)[1] : undefined,
    mood_min: filters.mood_min || undefined,
    mood_max: filters.mood_max || undefined,
  };
}

function toSearch(filters) {
  const params = new URLSearchParams();
  for (const tag of filters.tag) params.append('tag', tag);
  for (const key of ['from', 'to', 'mood_min', 'mood_max']) {
    if (filters[key]) params.set(key, filters[key]);
  }
  const text = params.toString();
  return text ? `/?${text}` : '/';
}

export function EntryCard({ entry, tagColors }) {
  return html`<${Link} class="card entry-card" href=${`/entries/${entry.id}`}>
    <h3>${entry.title}</h3>
    <p>${excerpt(entry.content) || html`<span class="muted">No words yet.</span>`}</p>
    <div class="entry-meta">
      ${entry.secret_tag &&
      html`<span class="badge-secret" title="In an unlocked vault"><${LockIcon} />${entry.secret_tag.name}</span>`}
      ${entry.mood_rating && html`<span>${moodLabel(entry.mood_rating)}</span>`}
      <span>${entry.word_count} words</span>
      <span class="chips">
        ${entry.tags.map((name) => html`<${TagChip} key=${name} name=${name} color=${tagColors[name.toLowerCase()]} />`)}
      </span>
    </div>
  <//>`;
}

const newestFirst = (a, b) =>
  a.entry_date === b.entry_date ? (a.id < b.id ? 1 : -1) : Date.parse(b.entry_date) - Date.parse(a.entry_date);

/**
 * The loaded entries with the feed's journal changes applied: a deletion (or an entry
 * moved into a locked vault) leaves, an edit replaces, and an entry that is new to this
 * list joins it when it falls inside the stretch already loaded (older ones come with
 * the next page, as usual).
 */
export function applyChanges(entries, changes, complete) {
  const byId = new Map(entries.map((entry) => [entry.id, entry]));
  const oldest = entries.length ? entries[entries.length - 1] : null;
  for (const change of changes) {
    if (change.kind !== 'journal') continue;
    if (change.op === 'delete') {
      byId.delete(change.id);
    } else if (byId.has(change.id) || complete || (oldest && newestFirst(change.data, oldest) <= 0)) {
      byId.set(change.id, change.data);
    }
  }
  return [...byId.values()].sort(newestFirst);
}

function groupByDay(entries) {
  const groups = [];
  for (const entry of entries) {
    const day = localDay(entry.entry_date);
    const last = groups[groups.length - 1];
    if (last && last.day === day) last.entries.push(entry);
    else groups.push({ day, entries: [entry] });
  }
  return groups;
}

function Filters({ filters, tags, active }) {
  const set = (patch) => navigate(toSearch({ ...filters, ...patch }), { replace: true });
  const moods = ['', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  return html`<details class="filter-panel" open=${active}>
    <summary>Filter by tag, dates or mood</summary>
    <form class="filters" aria-label="Filters" onSubmit=${(e) => e.preventDefault()}>
    <div>
      <label for="filter-tag">Tag</label>
      <select id="filter-tag" value=${filters.tag[0] || ''} onChange=${(e) => set({ tag: e.currentTarget.value ? [e.currentTarget.value] : [] })}>
        <option value="">All tags</option>
        ${tags.map((tag) => html`<option key=${tag.id} value=${tag.name}>${tag.name}</option>`)}
      </select>
    </div>
    <div>
      <label for="filter-from">From</label>
      <input id="filter-from" type="date" value=${filters.from} onChange=${(e) => set({ from: e.currentTarget.value })} />
    </div>
    <div>
      <label for="filter-to">To</label>
      <input id="filter-to" type="date" value=${filters.to} onChange=${(e) => set({ to: e.currentTarget.value })} />
    </div>
    <div>
      <label for="filter-mood-min">Mood at least</label>
      <select id="filter-mood-min" value=${filters.mood_min} onChange=${(e) => set({ mood_min: e.currentTarget.value })}>
        ${moods.map((m) => html`<option key=${m} value=${m}>${m || 'Any'}</option>`)}
      </select>
    </div>
    <div>
      <label for="filter-mood-max">Mood at most</label>
      <select id="filter-mood-max" value=${filters.mood_max} onChange=${(e) => set({ mood_max: e.currentTarget.value })}>
        ${moods.map((m) => html`<option key=${m} value=${m}>${m || 'Any'}</option>`)}
      </select>
    </div>
  </form>
  </details>`;
}

export default function Timeline({ query }) {
  const { tags, vaultVersion, user } = useShared();
  const filters = filtersOf(query);
  const key = JSON.stringify(filters);
  const [entries, setEntries] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [loading, setLoading] = useState(true);
  const [done, setDone] = useState(false);
  const [error, setError] = useState('');
  const sentinel = useRef(null);
  const busy = useRef(false);
  const filtered = key !== JSON.stringify(filtersOf(new URLSearchParams()));

  const load = async (reset) => {
    if (busy.current) return;
    busy.current = true;
    setLoading(true);
    setError('');
    try {
      const page = await api.get('/journals', {
        ...apiQuery(filters),
        limit: PAGE,
        cursor: reset ? undefined : cursor,
      });
      setEntries((previous) => (reset ? page.items : [...previous, ...page.items]));
      setCursor(page.next_cursor);
      setDone(!page.next_cursor);
    } catch (failure) {
      setError(api.describe(failure));
    } finally {
      busy.current = false;
      setLoading(false);
    }
  };

  useEffect(() => {
    setEntries([]);
    setCursor(null);
    setDone(false);
    load(true);
  }, [key, vaultVersion]);

  // Changes from other devices (the sync feed). With filters on, which entries belong is
  // the server's call: the list reloads. Otherwise the changes are applied in place.
  useEffect(() => onChanges((changes, { reset }) => {
    if (reset || filtered) {
      if (reset || changes.some((change) => change.kind === 'journal')) load(true);
      return;
    }
    setEntries((previous) => applyChanges(previous, changes, done));
  }), [key, done, cursor]);

  useEffect(() => {
    if (!sentinel.current || done) return undefined;
    const observer = new IntersectionObserver((seen) => {
      if (seen.some((s) => s.isIntersecting) && cursor && !busy.current) load(false);
    }, { rootMargin: '600px' });
    observer.observe(sentinel.current);
    return () => observer.disconnect();
  }, [cursor, done, key]);

  const tagColors = Object.fromEntries(tags.map((t) => [t.name.toLowerCase(), t.color]));
  const drafts = listDrafts();
  const greeting = user?.display_name ? `, ${user.display_name}` : '';

  return html`<section aria-labelledby="timeline-title">
    <div class="page-head">
      <h1 id="timeline-title">Journal</h1>
      <div class="actions">
        <${Link} class="button" href="/insights">Insights<//>
        <${Link} class="button" href="/calendar">Calendar<//>
      </div>
    </div>
    <${Filters} filters=${filters} tags=${tags} active=${filtered} />
    ${filtered && html`<div class="filters-summary">
      <span class="muted small">Filtered.</span>
      <${Link} href="/">Show every entry<//>
    </div>`}
    ${!filtered && html`<${OnThisDay} />`}
    ${drafts.length > 0 && html`<section class="drafts notice" aria-labelledby="drafts-title">
      <h2 id="drafts-title">Drafts on this device</h2>
      <p class="small">Not saved to your journal yet. They are sent when the connection allows.</p>
      <ul class="list">
        ${drafts.map((d) => html`<li key=${d.id}>
          <${Link} href=${`/write?draft=${d.id}`}>${d.fields.title || 'Untitled draft'}<//>
          <span class="muted small"> · ${excerpt(d.fields.content, 80)}</span>
        </li>`)}
      </ul>
    </section>`}
    <${ErrorText} error=${error} />
    ${!loading && !error && entries.length === 0
      ? html`<div class="empty-state">
          <h2>${filtered ? 'Nothing matches these filters' : `A blank page${greeting}`}</h2>
          <p>${filtered ? 'Try a wider range of dates or another tag.' : 'What is on your mind today?'}</p>
          ${!filtered && html`<${Link} class="button primary" href="/write">Write the first entry<//>`}
        </div>`
      : groupByDay(entries).map(
          (group) => html`<section class="day-group" key=${group.day} aria-label=${formatDay(group.entries[0].entry_date)}>
            <h2>${formatDay(group.entries[0].entry_date)}</h2>
            <div class="stack">
              ${group.entries.map((entry) => html`<${EntryCard} key=${entry.id} entry=${entry} tagColors=${tagColors} />`)}
            </div>
          </section>`,
        )}
    ${loading && html`<div aria-busy="true" aria-label="Loading entries"><div class="skeleton"></div><div class="skeleton"></div></div>`}
    <div class="sentinel" ref=${sentinel}></div>
    ${!done && !loading && entries.length > 0 &&
    html`<div class="actions"><button onClick=${() => load(false)}>Show older entries</button></div>`}
  </section>`;
}
