// New entries written offline or on a flaky network: kept on this device as drafts and
// created with an Idempotency-Key. A failed POST is retried with the same key and the
// same body, so the server replays its first answer instead of creating a second entry.
import * as api from './api.js';
import { dayToInstant, newKey } from './ui.js';
import { loadTags, state } from './state.js';

const open = new Set(); // drafts an editor has open: it syncs them itself

function storageKey() {
  return `vibes-drafts:${state.user?.id || 'anonymous'}`;
}

function read() {
  try {
    return JSON.parse(localStorage.getItem(storageKey()) || '{}');
  } catch {
    return {};
  }
}

function write(drafts) {
  try {
    localStorage.setItem(storageKey(), JSON.stringify(drafts));
  } catch {
    // Storage full or disabled: the draft lives in the editor's memory only.
  }
}

export function listDrafts() {
  return Object.values(read()).sort((a, b) => b.updatedAt - a.updatedAt);
}

export function getDraft(id) {
  return read()[id] || null;
}

export function saveDraft(draft) {
  const drafts = read();
  drafts[draft.id] = { ...draft, updatedAt: Date.now() };
  write(drafts);
}

export function removeDraft(id) {
  const drafts = read();
  delete drafts[id];
  write(drafts);
}

export function markOpen(id, isOpen) {
  if (isOpen) open.add(id);
  else open.delete(id);
}

export function bodyOf(fields) {
  const body = {
    title: fields.title.trim() || 'Untitled',
    content: fields.content,
    tags: fields.tags,
  };
  if (fields.entry_date) body.entry_date = dayToInstant(fields.entry_date);
  if (fields.mood_rating) body.mood_rating = fields.mood_rating;
  if (fields.secret_tag_id) body.secret_tag_id = fields.secret_tag_id;
  return body;
}

/**
 * Create the entry of a draft. Reuses the pending attempt (same key, same body) when one
 * was sent before; otherwise starts one with a new key. Answers {data, version}.
 */
export async function createFromDraft(draft) {
  if (!draft.pending) {
    draft.pending = { key: newKey(), body: bodyOf(draft.fields) };
    saveDraft(draft);
  }
  const created = await api.send('POST', '/journals', {
    body: draft.pending.body,
    idempotencyKey: draft.pending.key,
    withMeta: true,
  });
  return created;
}

/** Send every draft that no editor has open (at start, and when the network is back). */
export async function syncDrafts() {
  for (const draft of listDrafts()) {
    if (open.has(draft.id) || (!draft.pending && !draft.fields.content.trim())) continue;
    try {
      const created = await createFromDraft(draft);
      const later = bodyOf(draft.fields);
      if (JSON.stringify(later) !== JSON.stringify(draft.pending.body)) {
        await api.send('PATCH', `/journals/${created.data.id}`, {
          body: later,
          ifMatch: created.version,
        });
      }
      removeDraft(draft.id);
    } catch (error) {
      if (error instanceof api.ApiError && error.offline) return;
      // A refused body (422, 413) stays a draft for the person to fix in the editor.
    }
  }
  loadTags();
}
