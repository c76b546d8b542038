// A month at a glance, from the journal list's date filters; a day opens its entries.
import { html, useEffect, useState } from '../vendor/preact-htm.js';
import * as api from '../api.js';
import { navigate, useShared } from '../state.js';
import { ErrorText, Link, localDay } from '../ui.js';

function monthOf(query) {
  const raw = query.get('month');
  if (raw && /^\d{4}-\d{2}$/.test(raw)) return raw;
  return localDay().slice(0, 7);
}

function shift(month, delta) {
  const [y, m] = month.split('-').map(Number);
  const d = new Date(y, m - 1 + delta, 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

export default function Calendar({ query }) {
  const { vaultVersion } = useShared();
  const month = monthOf(query);
  const [counts, setCounts] = useState(null);
  const [error, setError] = useState('');
  const [y, m] = month.split('-').map(Number);
  const first = new Date(y, m - 1, 1);
  const next = new Date(y, m, 1);

  useEffect(() => {
    let live = true;
    setCounts(null);
    api
      .all('/journals', { from: first.toISOString(), to: new Date(next.getTime() - 1).toISOString() }, 10)
      .then(
        (entries) => {
          if (!live) return;
          const byDay = {};
          for (const entry of entries) {
            const day = localDay(entry.entry_date);
            byDay[day] = (byDay[day] || 0) + 1;
          }
          setCounts(byDay);
        },
        (failure) => live && setError(api.describe(failure)),
      );
    return () => {
      live = false;
    };
  }, [month, vaultVersion]);

  const label = first.toLocaleDateString(undefined, { month: 'long', year: 'numeric' });
  const monthName = first.toLocaleDateString(undefined, { month: 'long' });
  const lead = (first.getDay() + 6) % 7; // weeks start on Monday
  const days = new Date(y, m, 0).getDate();
  const today = localDay();
  const cells = [];
  for (let i = 0; i < lead; i += 1) cells.push(html`<span class="day out" aria-hidden="true"></span>`);
  for (let d = 1; d <= days; d += 1) {
    const day = `${month}-${String(d).padStart(2, '0')}`;
    const n = counts?.[day] || 0;
    const classes = `day${n ? ' has' : ''}${day === today ? ' today' : ''}`;
    const name = new Date(y, m - 1, d).toLocaleDateString(undefined, { weekday: 'long' });
    cells.push(
      n
        ? html`<${Link} class=${classes} href=${`/?from=${day}&to=${day}`}>
            <span>${d}<span class="visually-hidden"> ${monthName}, ${name}: ${n} ${n === 1 ? 'entry' : 'entries'}</span></span>
            <span class="n" aria-hidden="true">${n === 1 ? '1 entry' : `${n} entries`}</span>
          <//>`
        : html`<span class=${classes}><span>${d}</span></span>`,
    );
  }
  const weekdays = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  return html`<section aria-labelledby="calendar-title">
    <div class="page-head">
      <h1 id="calendar-title">${label}</h1>
      <div class="actions">
        <button onClick=${() => navigate(`/calendar?month=${shift(month, -1)}`)} aria-label="Previous month">‹ Previous</button>
        <button onClick=${() => navigate('/calendar')}>This month</button>
        <button onClick=${() => navigate(`/calendar?month=${shift(month, 1)}`)} aria-label="Next month">Next ›</button>
      </div>
    </div>
    <${ErrorText} error=${error} />
    <div class="calendar" aria-busy=${counts === null}>
      ${weekdays.map((w) => html`<span class="dow" aria-hidden="true">${w}</span>`)}
      ${cells}
    </div>
  </section>`;
}
