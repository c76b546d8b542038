// The editor: Markdown with a live preview, autosaved as you type.
// An existing entry is saved with PATCH + If-Match; a 412 (changed on another device)
// opens the conflict view, never overwriting silently. A new entry is a local draft
// until the server has it, created with an Idempotency-Key (see drafts.js).
import { html, useEffect, useRef, useState } from '../vendor/preact-htm.js';
import * as api from '../api.js';
import { createFromDraft, getDraft, markOpen, removeDraft, saveDraft } from '../drafts.js';
import { loadTags, navigate, toast, useShared } from '../state.js';
import { dayToInstant, ErrorText, localDay, Markdown, newKey, wordCount } from '../ui.js';

const DEBOUNCE_MS = 700;
const FRESH = { id: null, version: null, saved: null, draft: null, inFlight: false, again: false, timer: 0, fields: null };
const EMPTY = { title: '', content: '', entry_date: '', tags: [], mood_rating: null, secret_tag_id: null };

function fieldsOf(entry) {
  return {
    title: entry.title,
    content: entry.content,
    entry_date: localDay(entry.entry_date),
    tags: [...entry.tags],
    mood_rating: entry.mood_rating,
    secret_tag_id: entry.secret_tag?.id || null,
  };
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The PATCH body: only what changed since the server's copy. */
function changes(fields, saved) {
  const body = {};
  if (fields.title !== saved.title) body.title = fields.title.trim() || 'Untitled';
  if (fields.content !== saved.content) body.content = fields.content;
  if (fields.entry_date !== saved.entry_date && fields.entry_date) {
    body.entry_date = dayToInstant(fields.entry_date);
  }
  if (!same(fields.tags, saved.tags)) body.tags = fields.tags;
  if (fields.mood_rating !== saved.mood_rating) body.mood_rating = fields.mood_rating;
  if (fields.secret_tag_id !== saved.secret_tag_id) body.secret_tag_id = fields.secret_tag_id;
  return body;
}

const STATUS = {
  idle: '',
  dirty: 'Unsaved changes…',
  saving: 'Saving…',
  saved: 'Saved',
  draft: 'Kept on this device',
  offline: 'Offline: kept on this device, will retry',
  conflict: 'Changed on another device',
  error: 'Not saved',
};

function TagInput({ tags, onChange, known }) {
  const [text, setText] = useState('');
  const add = (raw) => {
    const name = raw.trim().replace(/,$/, '').trim();
    if (!name) return;
    if (!tags.some((t) => t.toLowerCase() === name.toLowerCase())) onChange([...tags, name]);
    setText('');
  };
  return html`<div class="tag-editor">
    ${tags.map((tag) => html`<span class="chip" key=${tag}>
      ${tag}
      <button type="button" aria-label=${`Remove tag ${tag}`} onClick=${() => onChange(tags.filter((t) => t !== tag))}>×</button>
    </span>`)}
    <input
      id="entry-tags"
      list="known-tags"
      value=${text}
      placeholder=${tags.length ? 'Add another' : 'Add a tag and press Enter'}
      autocomplete="off"
      onInput=${(e) => {
        const value = e.currentTarget.value;
        if (value.endsWith(',')) add(value);
        else setText(value);
      }}
      onChange=${(e) => {
        // Picking a suggestion from the list fires change without a key press.
        if (known.some((k) => k.name === e.currentTarget.value)) add(e.currentTarget.value);
      }}
      onKeyDown=${(e) => {
        if (e.key === 'Enter') {
          e.preventDefault();
          add(text);
        } else if (e.key === 'Backspace' && !text && tags.length) {
          onChange(tags.slice(0, -1));
        }
      }}
      onBlur=${() => add(text)}
    />
    <datalist id="known-tags">
      ${known.map((tag) => html`<option key=${tag.id} value=${tag.name}></option>`)}
    </datalist>
  </div>`;
}

function Conflict({ mine, theirs, onKeepMine, onKeepTheirs, onMerge }) {
  const [merging, setMerging] = useState(false);
  const [merged, setMerged] = useState(
    `${theirs.content}\n\n---\n\n${mine.content}`,
  );
  return html`<section class="card conflict" role="alertdialog" aria-labelledby="conflict-title" aria-describedby="conflict-lead">
    <h2 id="conflict-title">This entry changed on another device</h2>
    <p id="conflict-lead">Nothing was overwritten. Choose the version to keep, or combine them by hand.</p>
    <div class="conflict-grid">
      <div>
        <h3>On this device</h3>
        <p><strong>${mine.title}</strong></p>
        <pre class="conflict-mine">${mine.content}</pre>
      </div>
      <div>
        <h3>Saved elsewhere</h3>
        <p><strong>${theirs.title}</strong></p>
        <pre class="conflict-theirs">${theirs.content}</pre>
      </div>
    </div>
    ${merging
      ? html`<label for="merge-text">Combined text</label>
          <textarea id="merge-text" rows="10" value=${merged} onInput=${(e) => setMerged(e.currentTarget.value)}></textarea>
          <div class="actions">
            <button class="primary" onClick=${() => onMerge(merged)}>Save the combined text</button>
            <button onClick=${() => setMerging(false)}>Back</button>
          </div>`
      : html`<div class="actions">
          <button class="primary" onClick=${onKeepMine}>Keep this device's version</button>
          <button onClick=${onKeepTheirs}>Keep the other version</button>
          <button onClick=${() => setMerging(true)}>Merge by hand</button>
        </div>`}
  </section>`;
}

export default function Editor({ params, query }) {
  const { tags: known } = useShared();
  const existingId = params[0] || null;
  const [fields, setFields] = useState(null);
  const [status, setStatus] = useState('idle');
  const [error, setError] = useState('');
  const [conflict, setConflict] = useState(null);
  const [preview, setPreview] = useState(() => window.matchMedia('(min-width: 761px)').matches);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [vaultTags, setVaultTags] = useState(() => api.unlockedTags());
  const live = useRef({ ...FRESH, id: existingId });
  const title = useRef(null);

  useEffect(() => api.on((type) => {
    if (type === 'vault') setVaultTags(api.unlockedTags());
  }), []);

  // Load the entry, or open (or start) a draft. When the address changes because this
  // editor just created the entry (/write -> /entries/<id>), nothing reloads.
  useEffect(() => {
    if (existingId && live.current.id === existingId && live.current.fields) return undefined;
    live.current = { ...FRESH, id: existingId };
    const l = live.current;
    let cancelled = false;
    if (existingId) {
      api.get(`/journals/${existingId}`, undefined, { withMeta: true }).then(
        ({ data, version }) => {
          if (cancelled) return;
          l.version = version;
          l.saved = fieldsOf(data);
          l.fields = l.saved;
          setFields(l.saved);
          setStatus('saved');
        },
        (failure) => !cancelled && setError(api.describe(failure)),
      );
    } else {
      const draftId = query.get('draft');
      const draft = (draftId && getDraft(draftId)) || {
        id: newKey(),
        fields: { ...EMPTY, entry_date: localDay() },
        pending: null,
      };
      l.draft = draft;
      l.fields = draft.fields;
      markOpen(draft.id, true);
      setFields(draft.fields);
      if (draftId && draft.pending) schedule(0);
      setTimeout(() => title.current?.focus(), 0);
    }
    return () => {
      cancelled = true;
      clearTimeout(l.timer);
      if (l.draft) markOpen(l.draft.id, false);
      if (l.fields && l.id && l.saved && Object.keys(changes(l.fields, l.saved)).length) {
        saveNow(l);
      }
    };
  }, [existingId]);

  useEffect(() => {
    const retry = () => live.current.fields && schedule(0);
    window.addEventListener('online', retry);
    return () => window.removeEventListener('online', retry);
  }, []);

  function schedule(delay = DEBOUNCE_MS) {
    const l = live.current;
    clearTimeout(l.timer);
    l.timer = setTimeout(() => saveNow(l), delay);
  }

  function edit(patch) {
    const l = live.current;
    const next = { ...l.fields, ...patch };
    l.fields = next;
    setFields(next);
    if (l.draft && !l.id) {
      l.draft.fields = next;
      saveDraft(l.draft);
    }
    if (!conflict) {
      setStatus('dirty');
      schedule();
    }
  }

  async function saveNow(l = live.current) {
    clearTimeout(l.timer);
    if (l.inFlight) {
      l.again = true;
      return;
    }
    const fieldsNow = l.fields;
    if (!fieldsNow) return;
    if (!l.id && !fieldsNow.title.trim() && !fieldsNow.content.trim()) return;
    l.inFlight = true;
    setStatus('saving');
    setError('');
    try {
      if (!l.id) {
        l.draft.fields = fieldsNow;
        const created = await createFromDraft(l.draft);
        l.id = created.data.id;
        l.version = created.version;
        l.saved = { ...fieldsOf(created.data), entry_date: fieldsNow.entry_date };
        removeDraft(l.draft.id);
        markOpen(l.draft.id, false);
        history.replaceState(null, '', `/entries/${l.id}`);
        loadTags();
        if (Object.keys(changes(l.fields, l.saved)).length) l.again = true;
      } else {
        const body = changes(fieldsNow, l.saved);
        if (Object.keys(body).length) {
          const result = await api.send('PATCH', `/journals/${l.id}`, {
            body,
            ifMatch: l.version,
            withMeta: true,
          });
          l.version = result.version;
          l.saved = { ...fieldsNow };
          if ('tags' in body) loadTags();
        }
      }
      setStatus(same(l.fields, l.saved) ? 'saved' : 'dirty');
    } catch (failure) {
      if (failure instanceof api.ApiError && failure.status === 412) {
        const latest = await api.get(`/journals/${l.id}`, undefined, { withMeta: true });
        setConflict({ mine: { ...l.fields }, theirs: latest.data, version: latest.version });
        setStatus('conflict');
      } else if (failure instanceof api.ApiError && failure.offline) {
        setStatus(l.id ? 'offline' : 'draft');
        l.timer = setTimeout(() => saveNow(l), 5000);
      } else {
        setStatus('error');
        setError(api.describe(failure));
      }
    } finally {
      l.inFlight = false;
      if (l.again && l === live.current) {
        l.again = false;
        schedule(0);
      }
    }
  }

  async function resolve(chosen) {
    const l = live.current;
    try {
      const result = await api.send('PATCH', `/journals/${l.id}`, {
        body: changes(chosen, fieldsOf(conflict.theirs)),
        ifMatch: conflict.version,
        withMeta: true,
      });
      l.version = result.version;
      l.saved = fieldsOf(result.data);
      l.fields = l.saved;
      setFields(l.saved);
      setConflict(null);
      setStatus('saved');
      toast('Saved. The other version is replaced.', { kind: 'success' });
    } catch (failure) {
      if (failure instanceof api.ApiError && failure.status === 412) {
        const latest = await api.get(`/journals/${l.id}`, undefined, { withMeta: true });
        setConflict({ mine: chosen, theirs: latest.data, version: latest.version });
      } else setError(api.describe(failure));
    }
  }

  function keepTheirs() {
    const l = live.current;
    l.version = conflict.version;
    l.saved = fieldsOf(conflict.theirs);
    l.fields = l.saved;
    setFields(l.saved);
    setConflict(null);
    setStatus('saved');
  }

  async function remove() {
    const l = live.current;
    try {
      if (l.id) await api.send('DELETE', `/journals/${l.id}`, { ifMatch: l.version });
      if (l.draft) removeDraft(l.draft.id);
      l.fields = null;
      loadTags();
      toast('Entry deleted.', { kind: 'info' });
      navigate('/');
    } catch (failure) {
      setError(api.describe(failure));
    }
  }

  if (!fields) {
    return html`<section aria-busy=${!error}>
      <${ErrorText} error=${error} />
      ${!error && html`<div class="skeleton" aria-busy="true"></div><div class="skeleton"></div>`}
    </section>`;
  }

  const words = wordCount(fields.content);
  const moods = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  return html`<section class="editor" aria-label="Entry editor">
    <div class="editor-head">
      <span class="save-state" role="status" data-state=${status} id="save-state">${STATUS[status]}</span>
      <div class="actions">
        <button type="button" aria-pressed=${preview} onClick=${() => setPreview(!preview)}>Preview</button>
        ${confirmDelete
          ? html`<button class="danger" onClick=${remove}>Delete for good</button>
              <button onClick=${() => setConfirmDelete(false)}>Keep it</button>`
          : html`<button class="danger" onClick=${() => setConfirmDelete(true)}>Delete</button>`}
      </div>
    </div>
    ${conflict &&
    html`<${Conflict}
      mine=${conflict.mine}
      theirs=${conflict.theirs}
      onKeepMine=${() => resolve(conflict.mine)}
      onKeepTheirs=${keepTheirs}
      onMerge=${(text) => resolve({ ...conflict.mine, content: text })}
    />`}
    <${ErrorText} error=${error} />
    <label class="visually-hidden" for="entry-title">Title</label>
    <input
      id="entry-title"
      ref=${title}
      class="title-input"
      placeholder="Title"
      maxlength="500"
      value=${fields.title}
      onInput=${(e) => edit({ title: e.currentTarget.value })}
    />
    <div class="meta-row">
      <div>
        <label for="entry-date">Date</label>
        <input id="entry-date" type="date" value=${fields.entry_date} onChange=${(e) => edit({ entry_date: e.currentTarget.value })} />
      </div>
      <div>
        <label for="entry-mood">Mood</label>
        <select id="entry-mood" value=${fields.mood_rating || ''} onChange=${(e) => edit({ mood_rating: e.currentTarget.value ? Number(e.currentTarget.value) : null })}>
          <option value="">Not set</option>
          ${moods.map((m) => html`<option key=${m} value=${m}>${m} / 10</option>`)}
        </select>
      </div>
      ${(vaultTags.length > 0 || fields.secret_tag_id) && html`<div>
        <label for="entry-vault">Vault</label>
        <select id="entry-vault" value=${fields.secret_tag_id || ''} onChange=${(e) => edit({ secret_tag_id: e.currentTarget.value || null })}>
          <option value="">Not in the vault</option>
          ${vaultTags.map((t) => html`<option key=${t.id} value=${t.id}>${t.name} (secret)</option>`)}
        </select>
      </div>`}
    </div>
    <label for="entry-tags">Tags</label>
    <${TagInput} tags=${fields.tags} known=${known} onChange=${(tags) => edit({ tags })} />
    <div class=${`write-area${preview ? '' : ' single'}`}>
      <div>
        <label class="visually-hidden" for="entry-content">Entry text (Markdown)</label>
        <textarea
          id="entry-content"
          class="content-input"
          placeholder="Write freely. Markdown works: **bold**, _italic_, lists, > quotes."
          value=${fields.content}
          onInput=${(e) => edit({ content: e.currentTarget.value })}
          onKeyDown=${(e) => {
            if ((e.ctrlKey || e.metaKey) && e.key === 's') {
              e.preventDefault();
              saveNow();
            }
          }}
        ></textarea>
      </div>
      ${preview && html`<div class="preview" aria-label="Preview" role="region">
        <${Markdown} text=${fields.content} />
      </div>`}
    </div>
    <div class="editor-foot">
      <span class="muted small" aria-live="off" id="word-count">${words} ${words === 1 ? 'word' : 'words'}</span>
      <span class="muted small">Saved as you type · Ctrl+S saves now</span>
    </div>
  </section>`;
}
