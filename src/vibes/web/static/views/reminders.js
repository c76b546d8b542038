// Reminders: list, create (in the account's time zone, with repeats), complete, snooze.
// Due reminders arrive on the live stream (events.js) as a toast and, when allowed,
// a browser notification.
import { html, useEffect, useState } from '../vendor/preact-htm.js';
import * as api from '../api.js';
import { onEvent } from '../events.js';
import { toast, userZone } from '../state.js';
import { ErrorText, formatDateTime, instantInZone, zonedToInstant } from '../ui.js';

const REPEATS = [
  ['', 'Does not repeat'],
  ['daily', 'Every day'],
  ['weekdays', 'Every weekday'],
  ['weekly', 'Every week'],
  ['monthly', 'Every month'],
  ['custom', 'Custom rule (RRULE)'],
];
const STATUSES = [
  ['pending', 'Upcoming'],
  ['completed', 'Done'],
  ['all', 'All'],
];

function repeatLabel(rule) {
  const known = REPEATS.find(([value]) => value && value === rule);
  return known ? known[1] : rule;
}

function NotificationsToggle() {
  const supported = 'Notification' in self;
  const [permission, setPermission] = useState(supported ? Notification.permission : 'unsupported');
  if (!supported) return null;
  if (permission === 'granted') return html`<span class="muted small">Browser notifications are on.</span>`;
  if (permission === 'denied') return html`<span class="muted small">Browser notifications are blocked in this browser's settings.</span>`;
  return html`<button onClick=${async () => setPermission(await Notification.requestPermission())}>
    Allow browser notifications
  </button>`;
}

function CreateForm({ onCreated }) {
  const zone = userZone();
  const soon = new Date(Date.now() + 60 * 60 * 1000);
  const [day0, time0] = instantInZone(soon.toISOString(), zone);
  const [values, setValues] = useState({ title: '', notes: '', day: day0, time: time0.slice(0, 3) + '00', repeat: '', rule: '', priority: '2' });
  const [error, setError] = useState('');
  const bind = (key) => ({ value: values[key], onInput: (e) => setValues({ ...values, [key]: e.currentTarget.value }) });
  const submit = async (event) => {
    event.preventDefault();
    setError('');
    const recurrence = values.repeat === 'custom' ? values.rule.trim() : values.repeat;
    const body = {
      title: values.title.trim(),
      remind_at: zonedToInstant(values.day, values.time, zone),
      timezone: zone,
      priority: Number(values.priority),
    };
    if (values.notes.trim()) body.notes = values.notes.trim();
    if (recurrence) body.recurrence = recurrence;
    try {
      await api.post('/reminders', body);
      setValues({ ...values, title: '', notes: '', rule: '' });
      toast('Reminder set.', { kind: 'success' });
      onCreated();
    } catch (failure) {
      setError(api.describe(failure));
    }
  };
  return html`<form class="card" onSubmit=${submit} aria-labelledby="new-reminder-title">
    <h2 id="new-reminder-title">New reminder</h2>
    <label for="reminder-title">What</label>
    <input id="reminder-title" required maxlength="500" ...${bind('title')} />
    <div class="row">
      <div><label for="reminder-day">Day</label><input id="reminder-day" type="date" required ...${bind('day')} /></div>
      <div><label for="reminder-time">Time</label><input id="reminder-time" type="time" required ...${bind('time')} /></div>
      <div><label for="reminder-repeat">Repeat</label>
        <select id="reminder-repeat" value=${values.repeat} onChange=${(e) => setValues({ ...values, repeat: e.currentTarget.value })}>
          ${REPEATS.map(([value, label]) => html`<option key=${value} value=${value}>${label}</option>`)}
        </select></div>
      <div><label for="reminder-priority">Priority</label>
        <select id="reminder-priority" value=${values.priority} onChange=${(e) => setValues({ ...values, priority: e.currentTarget.value })}>
          ${[1, 2, 3, 4, 5].map((p) => html`<option key=${p} value=${p}>${p}${p === 1 ? ' (highest)' : p === 5 ? ' (lowest)' : ''}</option>`)}
        </select></div>
    </div>
    ${values.repeat === 'custom' && html`
      <label for="reminder-rule">Rule</label>
      <input id="reminder-rule" required placeholder="FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=21" aria-describedby="rule-hint" ...${bind('rule')} />
      <p class="hint" id="rule-hint">An RFC 5545 RRULE, in your time zone.</p>`}
    <label for="reminder-notes">Notes <span class="muted">(optional)</span></label>
    <textarea id="reminder-notes" rows="2" maxlength="10000" ...${bind('notes')}></textarea>
    <p class="hint">Times are in your time zone, ${zone}.</p>
    <${ErrorText} error=${error} />
    <div class="actions"><button class="primary" type="submit">Set reminder</button></div>
  </form>`;
}

function ReminderItem({ reminder, onChange }) {
  const [error, setError] = useState('');
  const act = (action, message) => async () => {
    setError('');
    try {
      await action();
      if (message) toast(message, { kind: 'success' });
      onChange();
    } catch (failure) {
      setError(api.describe(failure));
    }
  };
  const id = `snooze-${reminder.id}`;
  return html`<li class="reminder">
    <div class="item-row">
      <div class="item-main">
        <strong>${reminder.title}</strong>
        <div class="muted small">
          ${reminder.is_completed
            ? `Done ${reminder.completed_at ? formatDateTime(reminder.completed_at) : ''}`
            : reminder.next_fire_at
              ? `Next: ${formatDateTime(reminder.snoozed_until || reminder.next_fire_at, reminder.timezone)}`
              : 'No further occurrence'}
          ${reminder.recurrence ? ` · ${repeatLabel(reminder.recurrence)}` : ''}
          ${reminder.snoozed_until ? ' · snoozed' : ''}
          ${` · priority ${reminder.priority}`}
        </div>
        ${reminder.notes && html`<p class="small">${reminder.notes}</p>`}
      </div>
      <div class="actions">
        ${!reminder.is_completed && html`
          <button onClick=${act(() => api.post(`/reminders/${reminder.id}/complete`, {}), reminder.recurrence ? 'Done; moved to the next time.' : 'Done.')}>Complete</button>
          <label class="visually-hidden" for=${id}>Snooze ${reminder.title}</label>
          <select id=${id} value="" onChange=${(e) => {
            const minutes = Number(e.currentTarget.value);
            if (minutes) act(() => api.post(`/reminders/${reminder.id}/snooze`, { minutes }), 'Snoozed.')();
          }}>
            <option value="">Snooze…</option>
            <option value="10">10 minutes</option>
            <option value="60">1 hour</option>
            <option value="1440">1 day</option>
          </select>`}
        <button class="danger" aria-label=${`Delete ${reminder.title}`} onClick=${act(() => api.del(`/reminders/${reminder.id}`), 'Reminder deleted.')}>Delete</button>
      </div>
    </div>
    <${ErrorText} error=${error} />
  </li>`;
}

export default function Reminders() {
  const [status, setStatus] = useState('pending');
  const [items, setItems] = useState(null);
  const [error, setError] = useState('');
  const load = async () => {
    try {
      setItems(await api.all('/reminders', { status }, 5));
    } catch (failure) {
      setError(api.describe(failure));
    }
  };
  useEffect(() => {
    setItems(null);
    load();
  }, [status]);
  useEffect(() => onEvent((event) => {
    if (event.type.startsWith('reminder.')) load();
  }), [status]);
  return html`<section aria-labelledby="reminders-title">
    <div class="page-head">
      <h1 id="reminders-title">Reminders</h1>
      <${NotificationsToggle} />
    </div>
    <${CreateForm} onCreated=${load} />
    <div class="section">
      <div class="segmented" role="group" aria-label="Which reminders">
        ${STATUSES.map(([value, label]) => html`<button key=${value} aria-pressed=${status === value} onClick=${() => setStatus(value)}>${label}</button>`)}
      </div>
      <${ErrorText} error=${error} />
      ${items === null
        ? html`<div class="skeleton" aria-busy="true"></div>`
        : items.length === 0
          ? html`<div class="empty-state"><h2>Nothing here</h2><p>${status === 'pending' ? 'No reminders ahead. Set one above.' : 'Nothing done yet.'}</p></div>`
          : html`<ul class="list">${items.map((r) => html`<${ReminderItem} key=${`${r.id}:${r.version}`} reminder=${r} onChange=${load} />`)}</ul>`}
    </div>
  </section>`;
}
