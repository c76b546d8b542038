// Settings: profile, signed-in devices (revoke), password change, account deletion.
import { html, useEffect, useState } from '../vendor/preact-htm.js';
import * as api from '../api.js';
import { toast, update, useShared } from '../state.js';
import { ErrorText, formatDateTime, useAction } from '../ui.js';

const LANGUAGES = [
  ['en', 'English'],
  ['de', 'Deutsch'],
  ['es', 'Español'],
  ['fr', 'Français'],
  ['it', 'Italiano'],
  ['nl', 'Nederlands'],
  ['pt', 'Português'],
  ['sv', 'Svenska'],
  ['da', 'Dansk'],
  ['fi', 'Suomi'],
  ['no', 'Norsk'],
  ['ru', 'Русский'],
];

function zones() {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return [];
  }
}

function Profile() {
  const { user } = useShared();
  const [name, setName] = useState(user.display_name || '');
  const [zone, setZone] = useState(user.timezone);
  const [language, setLanguage] = useState(user.language || 'en');
  const action = useAction();
  const all = zones();
  const options = all.includes(zone) ? all : [zone, ...all];
  return html`<form class="card" aria-labelledby="profile-title" onSubmit=${action.run(async () => {
    const changes = { timezone: zone };
    if ('language' in user && language !== user.language) changes.language = language;
    if (name.trim()) changes.display_name = name.trim();
    update({ user: await api.patch('/users/me', changes) });
    toast('Profile saved.', { kind: 'success' });
  })}>
    <h2 id="profile-title">Profile</h2>
    <p class="muted small">Signed in as ${user.email}</p>
    <label for="profile-name">Name</label>
    <input id="profile-name" maxlength="100" value=${name} onInput=${(e) => setName(e.currentTarget.value)} />
    <label for="profile-zone">Time zone</label>
    <select id="profile-zone" value=${zone} onChange=${(e) => setZone(e.currentTarget.value)}>
      ${options.map((z) => html`<option key=${z} value=${z}>${z.replaceAll('_', ' ')}</option>`)}
    </select>
    ${'language' in user && html`
      <label for="profile-language">Language of your entries</label>
      <select id="profile-language" value=${language} onChange=${(e) => setLanguage(e.currentTarget.value)} aria-describedby="language-hint">
        ${LANGUAGES.map(([code, name]) => html`<option key=${code} value=${code}>${name}</option>`)}
      </select>
      <p class="hint" id="language-hint">Search matches word forms in this language.</p>`}
    <${ErrorText} error=${action.error} />
    <div class="actions"><button class="primary" type="submit" disabled=${action.busy}>Save</button></div>
  </form>`;
}

function Sessions() {
  const [sessions, setSessions] = useState(null);
  const action = useAction();
  const load = async () => setSessions(await api.get('/auth/sessions'));
  useEffect(() => {
    load().catch(() => setSessions([]));
  }, []);
  return html`<section class="card" aria-labelledby="sessions-title">
    <h2 id="sessions-title">Signed-in devices</h2>
    ${sessions === null
      ? html`<div class="skeleton" aria-busy="true"></div>`
      : html`<ul class="list sessions">
          ${sessions.map((s) => html`<li key=${s.id} class="item-row">
            <div class="item-main">
              <strong>${s.device_name || 'Unnamed device'}</strong>
              ${s.current && html` <span class="chip">This device</span>`}
              <div class="muted small">Last active ${formatDateTime(s.last_used_at)} · since ${formatDateTime(s.created_at)}</div>
            </div>
            ${s.current
              ? html`<button onClick=${() => api.signOut()}>Sign out</button>`
              : html`<button class="danger" aria-label=${`Sign out ${s.device_name || 'device'}`} onClick=${action.run(async () => {
                  await api.del(`/auth/sessions/${s.id}`);
                  toast('That device is signed out.', { kind: 'success' });
                  await load();
                })}>Sign out</button>`}
          </li>`)}
        </ul>`}
    <${ErrorText} error=${action.error} />
  </section>`;
}

function Password() {
  const [values, setValues] = useState({ current: '', next: '' });
  const action = useAction();
  return html`<form class="card" aria-labelledby="password-title" onSubmit=${action.run(async () => {
    await api.post('/auth/password', { current_password: values.current, new_password: values.next });
    setValues({ current: '', next: '' });
    toast('Password changed. Your other devices are signed out.', { kind: 'success' });
  })}>
    <h2 id="password-title">Password</h2>
    <label for="password-current">Current password</label>
    <input id="password-current" type="password" autocomplete="current-password" required value=${values.current} onInput=${(e) => setValues({ ...values, current: e.currentTarget.value })} />
    <label for="password-new">New password</label>
    <input id="password-new" type="password" autocomplete="new-password" minlength="12" required value=${values.next} onInput=${(e) => setValues({ ...values, next: e.currentTarget.value })} />
    <p class="hint">Every other device is signed out when it changes.</p>
    <${ErrorText} error=${action.error} />
    <div class="actions"><button class="primary" type="submit" disabled=${action.busy}>Change password</button></div>
  </form>`;
}

function DeleteAccount() {
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState('');
  const action = useAction();
  return html`<section class="card" aria-labelledby="delete-title">
    <h2 id="delete-title">Delete the account</h2>
    <p class="muted small">Erases your account and everything in it: entries, tags, vaults, reminders. This cannot be undone.</p>
    ${open
      ? html`<form onSubmit=${action.run(async () => {
          await api.del('/users/me', { password });
          await api.dropSession();
        })}>
          <label for="delete-password">Your password</label>
          <input id="delete-password" type="password" autocomplete="current-password" required value=${password} onInput=${(e) => setPassword(e.currentTarget.value)} />
          <${ErrorText} error=${action.error} />
          <div class="actions">
            <button class="danger" type="submit" disabled=${action.busy}>Delete everything for good</button>
            <button type="button" onClick=${() => setOpen(false)}>Keep my account</button>
          </div>
        </form>`
      : html`<button class="danger" onClick=${() => setOpen(true)}>Delete my account…</button>`}
  </section>`;
}

export default function Settings() {
  return html`<section aria-labelledby="settings-title">
    <div class="page-head"><h1 id="settings-title">Settings</h1></div>
    <div class="stack">
      <${Profile} />
      <${Sessions} />
      <${Password} />
      <${DeleteAccount} />
    </div>
  </section>`;
}
