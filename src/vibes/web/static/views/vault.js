// The vault: secret tags behind a phrase. Unlock tokens live in this tab's memory only
// and lock again by themselves when they expire.
import { html, useEffect, useState } from '../vendor/preact-htm.js';
import * as api from '../api.js';
import { toast } from '../state.js';
import { ErrorText, Link, LockIcon, useAction } from '../ui.js';

function remaining(expiresAt) {
  const seconds = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

function Unlock() {
  const [phrase, setPhrase] = useState('');
  const action = useAction();
  return html`<form class="card" onSubmit=${action.run(async () => {
    const answer = await api.post('/secret-tags/unlock', { phrase }, { unlock: false });
    api.addUnlock(answer.unlock_token, answer.expires_in, answer.tags);
    setPhrase('');
    toast(`Unlocked: ${answer.tags.map((t) => t.name).join(', ')}`, { kind: 'success' });
  })}>
    <h2>Unlock</h2>
    <p class="muted small">The phrase itself says which vault it opens. It stays open in this tab for a while, then locks again.</p>
    <label for="unlock-phrase">Your secret phrase</label>
    <input id="unlock-phrase" type="password" autocomplete="off" required value=${phrase} onInput=${(e) => setPhrase(e.currentTarget.value)} />
    <${ErrorText} error=${action.error} />
    <div class="actions"><button class="primary" type="submit" disabled=${action.busy}>${action.busy ? 'Unlocking…' : 'Unlock'}</button></div>
  </form>`;
}

function Create() {
  const [values, setValues] = useState({ name: '', phrase: '', confirm: '' });
  const action = useAction();
  const bind = (key) => ({ value: values[key], onInput: (e) => setValues({ ...values, [key]: e.currentTarget.value }) });
  return html`<form class="card" onSubmit=${action.run(async () => {
    if (values.phrase !== values.confirm) throw new api.ApiError(422, { detail: 'The two phrases differ.' });
    await api.post('/secret-tags', { name: values.name.trim(), phrase: values.phrase });
    const answer = await api.post('/secret-tags/unlock', { phrase: values.phrase }, { unlock: false });
    api.addUnlock(answer.unlock_token, answer.expires_in, answer.tags);
    setValues({ name: '', phrase: '', confirm: '' });
    toast('Vault created and unlocked. Entries you put in it are encrypted.', { kind: 'success' });
  })}>
    <h2>Create a secret tag</h2>
    <p class="muted small">Entries in it are encrypted with a key only this phrase opens. Nobody can recover a forgotten phrase: the entries are then lost.</p>
    <label for="vault-name">Name of the secret tag</label>
    <input id="vault-name" maxlength="64" required ...${bind('name')} />
    <label for="vault-phrase">Choose a secret phrase</label>
    <input id="vault-phrase" type="password" autocomplete="new-password" minlength="8" required ...${bind('phrase')} />
    <label for="vault-confirm">The same phrase again</label>
    <input id="vault-confirm" type="password" autocomplete="new-password" minlength="8" required ...${bind('confirm')} />
    <${ErrorText} error=${action.error} />
    <div class="actions"><button class="primary" type="submit" disabled=${action.busy}>Create</button></div>
  </form>`;
}

function OpenTag({ tag }) {
  const [mode, setMode] = useState(null);
  const [value, setValue] = useState('');
  const action = useAction();
  const expiresAt = api.unlockExpiry(tag.id);
  const done = (message) => {
    setMode(null);
    setValue('');
    toast(message, { kind: 'success' });
  };
  return html`<li>
    <div class="item-row">
      <div class="item-main">
        <strong class="vault-name"><${LockIcon} />${tag.name}</strong>
        <span class="muted small"> · open, locks in <span class="countdown">${expiresAt ? remaining(expiresAt) : '—'}</span></span>
      </div>
      <div class="actions">
        <${Link} class="button" href="/">See entries<//>
        <button class="primary" onClick=${() => api.lockTag(tag.id)}>Lock now</button>
        <button onClick=${() => setMode(mode === 'rename' ? null : 'rename')} aria-expanded=${mode === 'rename'}>Rename</button>
        <button onClick=${() => setMode(mode === 'phrase' ? null : 'phrase')} aria-expanded=${mode === 'phrase'}>Change phrase</button>
        <button class="danger" onClick=${() => setMode(mode === 'destroy' ? null : 'destroy')} aria-expanded=${mode === 'destroy'}>Destroy</button>
      </div>
    </div>
    ${mode === 'rename' && html`<form class="row" onSubmit=${action.run(async () => {
      const updated = await api.patch(`/secret-tags/${tag.id}`, { name: value.trim() });
      api.renameUnlocked({ id: tag.id, name: updated.name });
      done('Renamed.');
    })}>
      <div><label for=${`rename-${tag.id}`}>New name</label>
        <input id=${`rename-${tag.id}`} required maxlength="64" value=${value} onInput=${(e) => setValue(e.currentTarget.value)} /></div>
      <button class="shrink primary" type="submit">Save</button>
    </form>`}
    ${mode === 'phrase' && html`<form class="row" onSubmit=${action.run(async () => {
      await api.post(`/secret-tags/${tag.id}/phrase`, { new_phrase: value });
      done('The phrase is changed. Use the new one from now on.');
    })}>
      <div><label for=${`phrase-${tag.id}`}>New phrase</label>
        <input id=${`phrase-${tag.id}`} type="password" autocomplete="new-password" minlength="8" required value=${value} onInput=${(e) => setValue(e.currentTarget.value)} /></div>
      <button class="shrink primary" type="submit">Change</button>
    </form>`}
    ${mode === 'destroy' && html`<form class="row" onSubmit=${action.run(async () => {
      await api.del(`/secret-tags/${tag.id}`, { password: value });
      api.forgetUnlocked(tag.id);
      done('The vault and all its entries are destroyed.');
    })}>
      <p class="form-error">This erases the secret tag and every entry in it, for good.</p>
      <div><label for=${`destroy-${tag.id}`}>Your account password</label>
        <input id=${`destroy-${tag.id}`} type="password" autocomplete="current-password" required value=${value} onInput=${(e) => setValue(e.currentTarget.value)} /></div>
      <button class="shrink danger" type="submit">Destroy for good</button>
    </form>`}
    <${ErrorText} error=${action.error} />
  </li>`;
}

export default function Vault() {
  const [open, setOpen] = useState(() => api.unlockedTags());
  const [, tick] = useState(0);
  useEffect(() => api.on((type) => type === 'vault' && setOpen(api.unlockedTags())), []);
  useEffect(() => {
    const timer = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(timer);
  }, []);
  return html`<section aria-labelledby="vault-title">
    <div class="page-head"><h1 id="vault-title">Vault</h1></div>
    <p class="muted">Secret tags keep entries encrypted and invisible until you unlock them with their phrase.</p>
    ${open.length > 0
      ? html`<section class="card" aria-labelledby="open-title">
          <h2 id="open-title">Open now</h2>
          <ul class="list">${open.map((tag) => html`<${OpenTag} key=${tag.id} tag=${tag} />`)}</ul>
        </section>`
      : html`<p class="notice">The vault is locked.</p>`}
    <div class="stack section">
      <${Unlock} />
      <${Create} />
    </div>
  </section>`;
}
