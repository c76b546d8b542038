// The sync feed (GET /sync): what other devices changed since this tab last looked.
// A tab keeps no replica of its own, only the feed's cursor: views load their pages from
// the API as before, and patch them with the changes this module hands out. It pulls when
// the tab comes back into view and when the live stream says something changed.
import * as api from './api.js';
import { onEvent } from './events.js';

const PAGE = 1000; // the largest page the API allows: the first catch-up walks the account
const TYPES = /^(journal|tag|reminder)\./;

let cursor = null;
let started = false;
let running = null; // the pull in flight
let again = false; // another pull was asked for while one ran
let generation = 0; // bumps on stop: a pull of a signed-out session hands nothing out
const listeners = new Set();
const detach = [];

/** Listen to changes ([{kind, id, op, version, data}]); returns the unsubscribe function. */
export function onChanges(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function whenVisible() {
  if (document.visibilityState === 'visible') pullSoon();
}

export function startFeed() {
  stopFeed();
  started = true;
  detach.push(onEvent((event) => {
    if (TYPES.test(event.type || '')) pullSoon();
  }));
  window.addEventListener('focus', pullSoon);
  document.addEventListener('visibilitychange', whenVisible);
  detach.push(() => window.removeEventListener('focus', pullSoon));
  detach.push(() => document.removeEventListener('visibilitychange', whenVisible));
  pullSoon();
}

export function stopFeed() {
  started = false;
  generation += 1;
  cursor = null;
  again = false;
  while (detach.length) detach.pop()();
}

/** Pull now, or right after the pull in flight (several asks become one more pull). */
export function pullSoon() {
  if (!started || !api.signedIn()) return running;
  if (running) {
    again = true;
    return running;
  }
  running = (async () => {
    try {
      do {
        again = false;
        await pullAll(generation);
      } while (again && started);
    } catch {
      // Offline or signed out: the next focus or event tries again from the same cursor.
    } finally {
      running = null;
    }
  })();
  return running;
}

async function pullAll(mine) {
  // Without a cursor the feed answers the current state (upserts only), page by page, up
  // to the present. The views loaded most of it already; handing it out anyway lets them
  // pick up what was written between their own load and the end of this walk.
  for (;;) {
    let page;
    try {
      page = await api.get('/sync', { cursor: cursor ?? undefined, limit: PAGE });
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 410 && cursor !== null) {
        // Offline longer than the server keeps history: start over; the views reload.
        cursor = null;
        if (mine === generation) hand([], { reset: true });
        continue;
      }
      throw error;
    }
    if (mine !== generation) return;
    cursor = page.cursor;
    if (page.changes.length) hand(page.changes, { reset: false });
    if (!page.has_more) return;
  }
}

function hand(changes, info) {
  for (const listener of listeners) listener(changes, info);
}
