// Insights: streaks and totals, a year heatmap (a day opens its entries), the mood trend
// and tag shares, drawn as SVG from /analytics (figures by local day in the account's zone).
import { html, useEffect, useState } from '../vendor/preact-htm.js';
import * as api from '../api.js';
import { navigate, useShared } from '../state.js';
import { ErrorText, formatDay } from '../ui.js';

const PERIODS = [
  ['week', 'Week'],
  ['month', 'Month'],
  ['quarter', 'Quarter'],
  ['year', 'Year'],
];
const CELL = 12;
const GAP = 3;

function level(count) {
  if (!count) return 0;
  if (count === 1) return 1;
  if (count <= 3) return 2;
  return 3;
}

function addDays(day, n) {
  const d = new Date(`${day}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function weekdayOf(day) {
  return (new Date(`${day}T12:00:00Z`).getUTCDay() + 6) % 7; // Monday = 0
}

function Heatmap({ year, days }) {
  const byDay = new Map(days.map((d) => [d.date, d]));
  const first = `${year}-01-01`;
  const lead = weekdayOf(first);
  const cells = [];
  for (let day = first, i = lead; day.startsWith(String(year)); day = addDays(day, 1), i += 1) {
    const found = byDay.get(day);
    const x = Math.floor(i / 7) * (CELL + GAP);
    const y = (i % 7) * (CELL + GAP);
    const label = found
      ? `${formatDay(`${day}T12:00:00`)}: ${found.count} ${found.count === 1 ? 'entry' : 'entries'}`
      : `${formatDay(`${day}T12:00:00`)}: no entries`;
    const rect = html`<rect x=${x} y=${y} width=${CELL} height=${CELL} rx="2" class=${`heat heat-${level(found?.count)}`}>
      <title>${label}</title>
    </rect>`;
    cells.push(
      found
        ? html`<a key=${day} href=${`/?from=${day}&to=${day}`} aria-label=${label} data-day=${day}
            onClick=${(event) => {
              event.preventDefault();
              navigate(`/?from=${day}&to=${day}`);
            }}>${rect}</a>`
        : html`<g key=${day}>${rect}</g>`,
    );
  }
  const width = Math.ceil((lead + 366) / 7) * (CELL + GAP);
  return html`<svg class="heatmap" viewBox=${`0 0 ${width} ${7 * (CELL + GAP)}`} role="group"
    aria-label=${`Entries per day in ${year}`}>${cells}</svg>`;
}

function MoodTrend({ points }) {
  if (!points.length) return html`<p class="muted">No moods rated in this period.</p>`;
  const w = 600;
  const h = 160;
  const pad = 24;
  const x = (i) => (points.length === 1 ? w / 2 : pad + (i * (w - 2 * pad)) / (points.length - 1));
  const y = (mood) => h - pad - ((mood - 1) * (h - 2 * pad)) / 9;
  const line = points.map((p, i) => `${x(i).toFixed(1)},${y(p.avg_mood).toFixed(1)}`).join(' ');
  return html`<svg class="mood-chart" viewBox=${`0 0 ${w} ${h}`} role="img"
    aria-label=${`Mood trend: ${points.map((p) => `${p.date} ${p.avg_mood}`).join(', ')}`}>
    ${[1, 5, 10].map(
      (m) => html`<g key=${m}><line x1=${pad} x2=${w - pad} y1=${y(m)} y2=${y(m)} class="grid" />
        <text x="2" y=${y(m) + 4} class="axis">${m}</text></g>`,
    )}
    <polyline points=${line} class="mood-line" />
    ${points.map(
      (p, i) => html`<circle key=${p.date} cx=${x(i)} cy=${y(p.avg_mood)} r="4" class="mood-dot">
        <title>${formatDay(`${p.date}T12:00:00`)}: ${p.avg_mood}</title>
      </circle>`,
    )}
  </svg>`;
}

function TagShares({ tags }) {
  if (!tags.length) return html`<p class="muted">No tags yet.</p>`;
  const shown = tags.slice(0, 8);
  const row = 26;
  return html`<svg class="tag-chart" viewBox=${`0 0 400 ${shown.length * row}`} role="img"
    aria-label=${`Tag shares: ${shown.map((t) => `${t.tag} ${t.percentage}%`).join(', ')}`}>
    ${shown.map(
      (t, i) => html`<g key=${t.tag}>
        <text x="0" y=${i * row + 16} class="axis">${t.tag}</text>
        <rect x="120" y=${i * row + 4} height="16" rx="3" width=${Math.max(2, (t.percentage / 100) * 220)} class="tag-bar" />
        <text x="350" y=${i * row + 16} class="axis">${t.percentage}%</text>
      </g>`,
    )}
  </svg>`;
}

export default function Insights({ query }) {
  const { vaultVersion } = useShared();
  const period = PERIODS.some(([p]) => p === query.get('period')) ? query.get('period') : 'month';
  const [board, setBoard] = useState(null);
  const [calendar, setCalendar] = useState(null);
  const [error, setError] = useState('');

  useEffect(() => {
    let live = true;
    api.get('/analytics/dashboard', { period }).then(
      (answer) => {
        if (!live) return;
        setBoard(answer);
        return api.get('/analytics/calendar', { year: answer.today.slice(0, 4) }).then(
          (days) => live && setCalendar(days),
        );
      },
    ).catch((failure) => live && setError(api.describe(failure)));
    return () => {
      live = false;
    };
  }, [period, vaultVersion]);

  const s = board?.summary;
  const stats = s
    ? [
        ['Current streak', `${s.writing_streak} ${s.writing_streak === 1 ? 'day' : 'days'}`],
        ['Longest streak', `${s.longest_streak} ${s.longest_streak === 1 ? 'day' : 'days'}`],
        ['Entries', s.total_journals],
        ['Words', s.total_words],
        ['Average mood', s.avg_mood ?? '—'],
        ['Most active day', s.most_active_weekday ?? '—'],
        ['Reminders done', `${s.completed_reminders} of ${s.total_reminders}`],
      ]
    : [];
  return html`<section aria-labelledby="insights-title" class="insights" aria-busy=${board === null}>
    <div class="page-head">
      <h1 id="insights-title">Insights</h1>
      <div class="actions" role="group" aria-label="Period">
        ${PERIODS.map(
          ([p, label]) => html`<button key=${p} aria-pressed=${p === period}
            onClick=${() => navigate(`/insights?period=${p}`)}>${label}</button>`,
        )}
      </div>
    </div>
    <${ErrorText} error=${error} />
    ${s &&
    html`<dl class="stats">
      ${stats.map(([label, value]) => html`<div class="card stat" key=${label}><dt>${label}</dt><dd>${value}</dd></div>`)}
    </dl>`}
    ${board &&
    html`<div class="card">
      <h2>${board.today.slice(0, 4)} at a glance</h2>
      ${calendar ? html`<${Heatmap} year=${Number(board.today.slice(0, 4))} days=${calendar} />` : html`<div class="skeleton"></div>`}
    </div>
    <div class="insight-charts">
      <div class="card"><h2>Mood</h2><${MoodTrend} points=${board.charts.mood_trend} /></div>
      <div class="card"><h2>Tags</h2><${TagShares} tags=${board.charts.tag_usage} /></div>
    </div>`}
  </section>`;
}

// "On this day" for the home view: entries from the same date in earlier years.
export function OnThisDay() {
  const { vaultVersion } = useShared();
  const [items, setItems] = useState([]);
  useEffect(() => {
    let live = true;
    api.get('/analytics/on-this-day').then(
      (answer) => live && setItems(answer.items),
      () => live && setItems([]),
    );
    return () => {
      live = false;
    };
  }, [vaultVersion]);
  if (!items.length) return null;
  return html`<aside class="card on-this-day" aria-labelledby="on-this-day-title">
    <h2 id="on-this-day-title">On this day</h2>
    <ul>
      ${items.map(
        (entry) => html`<li key=${entry.id}>
          <a href=${`/entries/${entry.id}`} onClick=${(event) => {
            event.preventDefault();
            navigate(`/entries/${entry.id}`);
          }}>${entry.title}</a>
          <span class="muted"> · ${entry.entry_date.slice(0, 4)}</span>
        </li>`,
      )}
    </ul>
  </aside>`;
}
