// Tags with their counts: rename, merge (rename onto another name), recolour, delete.
import { html, useState } from '../vendor/preact-htm.js';
import * as api from '../api.js';
import { loadTags, toast, useShared } from '../state.js';
import { ErrorText, Link, TagChip } from '../ui.js';

function TagRow({ tag, others }) {
  const [name, setName] = useState(tag.name);
  const [color, setColor] = useState(tag.color || '#8a8577');
  const [mergeInto, setMergeInto] = useState('');
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState('');
  const run = (action, message) => async (event) => {
    event?.preventDefault();
    setError('');
    try {
      await action();
      toast(message, { kind: 'success' });
      await loadTags();
    } catch (failure) {
      setError(api.describe(failure));
    }
  };
  const id = `tag-${tag.id}`;
  const [open, setOpen] = useState(false);
  return html`<li>
    <div class="item-row">
      <div class="item-main">
        <${TagChip} name=${tag.name} color=${tag.color} href=${`/?tag=${encodeURIComponent(tag.name)}`} />
        <span class="muted small"> ${tag.journal_count} ${tag.journal_count === 1 ? 'entry' : 'entries'}</span>
      </div>
      <button class="compact" aria-expanded=${open} aria-controls=${`${id}-form`} aria-label=${`Edit tag ${tag.name}`}
        onClick=${() => setOpen(!open)}>${open ? 'Done' : 'Edit'}</button>
    </div>
    ${open && html`<form class="row tag-form" id=${`${id}-form`} onSubmit=${run(() => api.patch(`/tags/${tag.id}`, { name: name.trim() }), 'Tag renamed.')}>
      <div>
        <label for=${`${id}-name`}>Name</label>
        <input id=${`${id}-name`} value=${name} maxlength="64" onInput=${(e) => setName(e.currentTarget.value)} />
      </div>
      <button class="shrink" type="submit" disabled=${!name.trim() || name === tag.name}>Rename</button>
      <div class="shrink">
        <label for=${`${id}-color`}>Colour</label>
        <input id=${`${id}-color`} type="color" value=${color}
          onChange=${(e) => { setColor(e.currentTarget.value); run(() => api.patch(`/tags/${tag.id}`, { color: e.currentTarget.value }), 'Colour changed.')(); }} />
      </div>
      ${others.length > 0 && html`<div>
        <label for=${`${id}-merge`}>Merge into</label>
        <select id=${`${id}-merge`} value=${mergeInto} onChange=${(e) => setMergeInto(e.currentTarget.value)}>
          <option value="">Choose a tag</option>
          ${others.map((o) => html`<option key=${o.id} value=${o.name}>${o.name}</option>`)}
        </select>
      </div>
      <button class="shrink" type="button" disabled=${!mergeInto}
        onClick=${run(() => api.patch(`/tags/${tag.id}`, { name: mergeInto }), `Merged into ${mergeInto}.`)}>Merge</button>`}
      ${confirm
        ? html`<button class="danger shrink" type="button" onClick=${run(() => api.del(`/tags/${tag.id}`), 'Tag deleted; its entries stay.')}>Delete for good</button>`
        : html`<button class="danger shrink" type="button" onClick=${() => setConfirm(true)}>Delete</button>`}
    </form>`}
    <${ErrorText} error=${error} />
  </li>`;
}

export default function Tags() {
  const { tags } = useShared();
  const sorted = [...tags].sort((a, b) => a.name.localeCompare(b.name));
  return html`<section aria-labelledby="tags-title">
    <div class="page-head"><h1 id="tags-title">Tags</h1></div>
    <p class="muted">Renaming a tag onto a name that already exists merges the two. Deleting a tag keeps its entries.</p>
    ${sorted.length === 0
      ? html`<div class="empty-state"><h2>No tags yet</h2><p>Add tags while you write; they gather here.</p>
          <${Link} class="button primary" href="/write">Write an entry<//></div>`
      : html`<ul class="list">
          ${sorted.map((tag) => html`<${TagRow} key=${`${tag.id}:${tag.version}`} tag=${tag} others=${sorted.filter((o) => o.id !== tag.id)} />`)}
        </ul>`}
  </section>`;
}
