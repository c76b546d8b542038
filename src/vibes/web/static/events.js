// The live event stream (GET /events), read with fetch so the bearer token is sent
// (EventSource cannot send headers). Reconnects with Last-Event-ID after a drop.
import * as api from './api.js';
import { formatDateTime } from './ui.js';
import { toast } from './state.js';

let controller = null;
let lastEventId = null;
let backoff = 1000;
const handlers = new Set();

/** Listen to every event ({id, type, data}); returns the unsubscribe function. */
export function onEvent(handler) {
  handlers.add(handler);
  return () => handlers.delete(handler);
}

export function stopEvents() {
  controller?.abort();
  controller = null;
}

export function startEvents() {
  stopEvents();
  const mine = new AbortController();
  controller = mine;
  run(mine.signal);
}

async function run(signal) {
  while (!signal.aborted && api.signedIn()) {
    try {
      await readStream(signal);
      backoff = 1000;
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof api.ApiError && error.status === 401) {
        try {
          await api.refresh();
          continue;
        } catch {
          return;
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, backoff));
    backoff = Math.min(backoff * 2, 30_000);
  }
}

async function readStream(signal) {
  const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${api.accessToken()}` };
  if (lastEventId) headers['Last-Event-ID'] = lastEventId;
  const response = await fetch('/api/v1/events', { headers, signal, cache: 'no-store' });
  if (!response.ok || !response.body) throw new api.ApiError(response.status);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      dispatch(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
    }
  }
}

function dispatch(block) {
  let id = null;
  let type = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  }
  if (id) lastEventId = id;
  if (!data.length || type === 'ping') return;
  let event;
  try {
    event = JSON.parse(data.join('\n'));
  } catch {
    return;
  }
  for (const handler of handlers) handler(event);
  if (event.type === 'reminder.due') notifyDue(event);
}

async function notifyDue(event) {
  let title = 'A reminder is due';
  try {
    const reminder = await api.get(`/reminders/${event.data.reminder_id}`);
    title = reminder.title;
  } catch {
    // Deleted since: the generic words will do.
  }
  const when = formatDateTime(event.data.occurrence_at || event.created_at);
  toast(`Reminder: ${title} (${when})`, { kind: 'reminder', timeout: 15000 });
  if ('Notification' in self && Notification.permission === 'granted') {
    try {
      new Notification(title, { body: `Due ${when}`, tag: event.id, icon: undefined });
    } catch {
      // Some platforms only allow notifications from a service worker; the toast stays.
    }
  }
}
