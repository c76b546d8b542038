// Security: two-factor sign-in (on with a QR code and a first code, recovery codes shown
// once, off with password and code) and personal access tokens (made, shown once, revoked).
import { html, useEffect, useState } from '../vendor/preact-htm.js';
import * as api from '../api.js';
import { toast } from '../state.js';
import { ErrorText, formatDateTime, useAction } from '../ui.js';

// The server draws the QR code (an SVG document with no script); shown as an image, so
// nothing of it runs, and no third-party code is involved.
function qrSource(svg) {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

function RecoveryCodes({ codes, onDone }) {
  return html`<div class="recovery" role="region" aria-labelledby="recovery-title">
    <h3 id="recovery-title">Your recovery codes</h3>
    <p class="muted small">Each works once, in place of a code from the app. Keep them somewhere
      safe: they are shown only now.</p>
    <ol class="recovery-codes">
      ${codes.map((code) => html`<li key=${code}><code>${code}</code></li>`)}
    </ol>
    <div class="actions">
      <button onClick=${() => navigator.clipboard?.writeText(codes.join('\n')).then(() => toast('Copied.'))}>Copy</button>
      <button class="primary" onClick=${onDone}>I saved them</button>
    </div>
  </div>`;
}

function TwoFactor() {
  const [status, setStatus] = useState(null);
  const [setup, setSetup] = useState(null);
  const [codes, setCodes] = useState(null);
  const [code, setCode] = useState('');
  const [off, setOff] = useState({ password: '', code: '' });
  const action = useAction();
  const load = async () => setStatus(await api.get('/auth/2fa'));
  useEffect(() => {
    load().catch(() => setStatus({ enabled: false, recovery_codes_left: 0 }));
  }, []);

  let body;
  if (status === null) {
    body = html`<div class="skeleton" aria-busy="true"></div>`;
  } else if (codes) {
    body = html`<${RecoveryCodes} codes=${codes} onDone=${() => setCodes(null)} />`;
  } else if (status.enabled) {
    body = html`<p><span class="chip">On</span> ${status.recovery_codes_left} recovery codes left.</p>
      <form onSubmit=${action.run(async () => {
        await api.post('/auth/2fa/disable', { password: off.password, code: off.code.trim() });
        setOff({ password: '', code: '' });
        toast('Two-factor sign-in is off.', { kind: 'success' });
        await load();
      })}>
        <h3>Turn it off</h3>
        <label for="mfa-off-password">Your password</label>
        <input id="mfa-off-password" type="password" autocomplete="current-password" required value=${off.password} onInput=${(e) => setOff({ ...off, password: e.currentTarget.value })} />
        <label for="mfa-off-code">A code from the app, or a recovery code</label>
        <input id="mfa-off-code" autocomplete="one-time-code" maxlength="16" required value=${off.code} onInput=${(e) => setOff({ ...off, code: e.currentTarget.value })} />
        <${ErrorText} error=${action.error} />
        <div class="actions"><button class="danger" type="submit" disabled=${action.busy}>Turn off two-factor sign-in</button></div>
      </form>`;
  } else if (setup) {
    body = html`<form onSubmit=${action.run(async () => {
        const answer = await api.post('/auth/2fa/confirm', { code: code.replaceAll(' ', '') });
        setSetup(null);
        setCode('');
        setCodes(answer.recovery_codes);
        await load();
        toast('Two-factor sign-in is on.', { kind: 'success' });
      })}>
        <p>Scan this code with your authenticator app, then type the six-digit code it shows.</p>
        <img class="qr" src=${qrSource(setup.qr_svg)} alt="QR code to add Vibes to your authenticator app" />
        <p class="muted small">
          Cannot scan? Enter this key by hand: <code class="secret-key" data-testid="totp-secret">${setup.secret}</code>
        </p>
        <label for="mfa-confirm-code">Code from the app</label>
        <input id="mfa-confirm-code" autocomplete="one-time-code" inputmode="numeric" maxlength="16" required value=${code} onInput=${(e) => setCode(e.currentTarget.value)} />
        <${ErrorText} error=${action.error} />
        <div class="actions">
          <button class="primary" type="submit" disabled=${action.busy}>Turn on</button>
          <button type="button" onClick=${() => setSetup(null)}>Cancel</button>
        </div>
      </form>`;
  } else {
    body = html`<p class="muted small">A code from an app on your phone, on top of the password,
        each time you sign in.</p>
      <${ErrorText} error=${action.error} />
      <div class="actions">
        <button class="primary" disabled=${action.busy} onClick=${action.run(async () => setSetup(await api.post('/auth/2fa/setup')))}>
          Set up two-factor sign-in
        </button>
      </div>`;
  }
  return html`<section class="card" aria-labelledby="mfa-title">
    <h2 id="mfa-title">Two-factor sign-in</h2>
    ${body}
  </section>`;
}

const EXPIRY = [
  ['30', '30 days'],
  ['90', '90 days'],
  ['365', 'A year'],
  ['', 'Never'],
];

function AccessTokens() {
  const [tokens, setTokens] = useState(null);
  const [made, setMade] = useState(null);
  const [form, setForm] = useState({ name: '', scope: 'write', days: '90' });
  const action = useAction();
  const load = async () => setTokens(await api.get('/auth/tokens'));
  useEffect(() => {
    load().catch(() => setTokens([]));
  }, []);
  return html`<section class="card" aria-labelledby="tokens-title">
    <h2 id="tokens-title">Access tokens</h2>
    <p class="muted small">For scripts and the terminal (<code>vibes login --token</code>). A token
      cannot change the password, sessions, two-factor sign-in or other tokens.</p>
    ${made && html`<div class="token-made" role="status">
      <p><strong>${made.name}</strong>: copy it now, it is shown only this once.</p>
      <input readonly aria-label="New access token" value=${made.token} onFocus=${(e) => e.currentTarget.select()} />
      <div class="actions">
        <button onClick=${() => navigator.clipboard?.writeText(made.token).then(() => toast('Copied.'))}>Copy</button>
        <button onClick=${() => setMade(null)}>Done</button>
      </div>
    </div>`}
    ${tokens === null
      ? html`<div class="skeleton" aria-busy="true"></div>`
      : tokens.length === 0
        ? html`<p class="muted small">No access tokens.</p>`
        : html`<ul class="list tokens">
          ${tokens.map((t) => html`<li key=${t.id} class="item-row">
            <div class="item-main">
              <strong>${t.name}</strong> <span class="chip">${t.scopes.includes('write') ? 'read & write' : 'read only'}</span>
              <div class="muted small">${[
                `Made ${formatDateTime(t.created_at)}`,
                t.expires_at ? `expires ${formatDateTime(t.expires_at)}` : 'never expires',
                t.last_used_at ? `last used ${formatDateTime(t.last_used_at)}` : 'never used',
              ].join(' · ')}</div>
            </div>
            <button class="danger" aria-label=${`Revoke ${t.name}`} onClick=${action.run(async () => {
              await api.del(`/auth/tokens/${t.id}`);
              toast('The token is revoked.', { kind: 'success' });
              await load();
            })}>Revoke</button>
          </li>`)}
        </ul>`}
    <form onSubmit=${action.run(async () => {
      const body = { name: form.name.trim(), scopes: form.scope === 'write' ? ['read', 'write'] : ['read'] };
      if (form.days) body.expires_in_days = Number(form.days);
      setMade(await api.post('/auth/tokens', body));
      setForm({ ...form, name: '' });
      await load();
    })}>
      <h3>New token</h3>
      <label for="token-name">Name</label>
      <input id="token-name" maxlength="100" required placeholder="Phone shortcut" value=${form.name} onInput=${(e) => setForm({ ...form, name: e.currentTarget.value })} />
      <label for="token-scope">May</label>
      <select id="token-scope" value=${form.scope} onChange=${(e) => setForm({ ...form, scope: e.currentTarget.value })}>
        <option value="write">Read and write</option>
        <option value="read">Only read</option>
      </select>
      <label for="token-expiry">Expires</label>
      <select id="token-expiry" value=${form.days} onChange=${(e) => setForm({ ...form, days: e.currentTarget.value })}>
        ${EXPIRY.map(([value, label]) => html`<option key=${value} value=${value}>${label}</option>`)}
      </select>
      <${ErrorText} error=${action.error} />
      <div class="actions"><button class="primary" type="submit" disabled=${action.busy}>Make a token</button></div>
    </form>
  </section>`;
}

export default function Security() {
  return html`<section aria-labelledby="security-title">
    <div class="page-head"><h1 id="security-title">Security</h1></div>
    <div class="stack">
      <${TwoFactor} />
      <${AccessTokens} />
    </div>
  </section>`;
}
