// Signing in and out of the journal: sign in, sign up, forgotten and reset password.
import { html, useEffect, useState } from '../vendor/preact-htm.js';
import * as api from '../api.js';
import { afterSignIn } from '../session.js';
import { navigate, toast } from '../state.js';
import { ErrorText, Link } from '../ui.js';

function AuthCard({ title, lead, children }) {
  return html`<section class="auth-card">
    <div class="brand auth-brand"><span class="brand-mark" aria-hidden="true"></span>Vibes</div>
    <h1>${title}</h1>
    ${lead && html`<p class="muted">${lead}</p>`}
    ${children}
  </section>`;
}

function useForm(initial) {
  const [values, setValues] = useState(initial);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const bind = (name) => ({
    value: values[name],
    onInput: (event) => setValues({ ...values, [name]: event.currentTarget.value }),
  });
  const submit = (action) => async (event) => {
    event.preventDefault();
    setError('');
    setBusy(true);
    try {
      await action(values);
    } catch (failure) {
      setError(api.describe(failure));
    } finally {
      setBusy(false);
    }
  };
  return { values, bind, submit, error, busy, setError };
}

function SecondFactor({ mfaToken, onCancel }) {
  const [recovery, setRecovery] = useState(false);
  const form = useForm({ code: '' });
  const label = recovery ? 'Recovery code' : 'Code from your authenticator app';
  return html`<${AuthCard} title="Two-factor sign-in" lead=${recovery
    ? 'Type one of the recovery codes you saved. Each works once.'
    : 'Open your authenticator app and type the six-digit code for Vibes.'}>
    <form onSubmit=${form.submit(async ({ code }) => {
      const value = code.trim();
      await api.verifyTwoFactor(mfaToken, recovery ? { recoveryCode: value } : { code: value.replaceAll(' ', '') });
      await afterSignIn();
      navigate('/', { replace: true });
    })}>
      <label for="mfa-code">${label}</label>
      <input
        id="mfa-code"
        key=${recovery ? 'recovery' : 'code'}
        autocomplete="one-time-code"
        inputmode=${recovery ? 'text' : 'numeric'}
        maxlength="16"
        required
        autofocus
        ...${form.bind('code')}
      />
      <${ErrorText} error=${form.error} />
      <button class="button primary wide" type="submit" disabled=${form.busy}>
        ${form.busy ? 'Checking…' : 'Verify'}
      </button>
    </form>
    <p class="auth-links">
      <button class="link" type="button" onClick=${() => setRecovery(!recovery)}>
        ${recovery ? 'Use a code from the app' : 'Use a recovery code'}
      </button>
      <span aria-hidden="true"> · </span>
      <button class="link" type="button" onClick=${onCancel}>Start over</button>
    </p>
  <//>`;
}

export function SignIn() {
  const form = useForm({ email: '', password: '' });
  const [mfaToken, setMfaToken] = useState(null);
  if (mfaToken) return html`<${SecondFactor} mfaToken=${mfaToken} onCancel=${() => setMfaToken(null)} />`;
  return html`<${AuthCard} title="Welcome back" lead="A calm place to write. Sign in to your journal.">
    <form onSubmit=${form.submit(async ({ email, password }) => {
      const challenge = await api.signIn(email.trim(), password);
      if (challenge) {
        setMfaToken(challenge.mfaToken);
        return;
      }
      await afterSignIn();
      navigate('/', { replace: true });
    })}>
      <label for="signin-email">Email</label>
      <input id="signin-email" type="email" autocomplete="username" required ...${form.bind('email')} />
      <label for="signin-password">Password</label>
      <input id="signin-password" type="password" autocomplete="current-password" required ...${form.bind('password')} />
      <${ErrorText} error=${form.error} />
      <button class="button primary wide" type="submit" disabled=${form.busy}>
        ${form.busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
    <p class="auth-links">
      <${Link} href="/forgot-password">Forgot your password?<//>
      <span aria-hidden="true"> · </span>
      <${Link} href="/sign-up">Create a journal<//>
    </p>
  <//>`;
}

export function SignUp() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const form = useForm({ display_name: '', email: '', password: '' });
  return html`<${AuthCard} title="Start your journal" lead="Private by default. Yours to keep.">
    <form onSubmit=${form.submit(async ({ display_name, email, password }) => {
      const body = { email: email.trim(), password, timezone: zone };
      if (display_name.trim()) body.display_name = display_name.trim();
      await api.post('/auth/register', body, { auth: false });
      await api.signIn(email.trim(), password);
      await afterSignIn();
      toast('Welcome to Vibes. Press N any time to write.', { kind: 'success' });
      navigate('/write', { replace: true });
    })}>
      <label for="signup-name">Your name <span class="muted">(optional)</span></label>
      <input id="signup-name" autocomplete="name" maxlength="100" ...${form.bind('display_name')} />
      <label for="signup-email">Email</label>
      <input id="signup-email" type="email" autocomplete="email" required ...${form.bind('email')} />
      <label for="signup-password">Password</label>
      <input
        id="signup-password"
        type="password"
        autocomplete="new-password"
        minlength="12"
        required
        aria-describedby="signup-password-hint"
        ...${form.bind('password')}
      />
      <p class="hint" id="signup-password-hint">
        At least 12 characters. A few unrelated words make a strong one.
      </p>
      <${ErrorText} error=${form.error} />
      <button class="button primary wide" type="submit" disabled=${form.busy}>
        ${form.busy ? 'Creating…' : 'Create my journal'}
      </button>
    </form>
    <p class="auth-links">Already writing? <${Link} href="/sign-in">Sign in<//></p>
  <//>`;
}

export function Forgot() {
  const form = useForm({ email: '' });
  const [sent, setSent] = useState(false);
  if (sent) {
    return html`<${AuthCard} title="Check your mail">
      <p>If an account uses this address, a link to choose a new password is on its way.
        It works once, for a short while.</p>
      <p class="auth-links"><${Link} href="/sign-in">Back to sign in<//></p>
    <//>`;
  }
  return html`<${AuthCard} title="Forgot your password?" lead="We will mail you a link to choose a new one.">
    <form onSubmit=${form.submit(async ({ email }) => {
      await api.post('/auth/password-reset', { email: email.trim() }, { auth: false });
      setSent(true);
    })}>
      <label for="forgot-email">Email</label>
      <input id="forgot-email" type="email" autocomplete="email" required ...${form.bind('email')} />
      <${ErrorText} error=${form.error} />
      <button class="button primary wide" type="submit" disabled=${form.busy}>Send the link</button>
    </form>
    <p class="auth-links"><${Link} href="/sign-in">Back to sign in<//></p>
  <//>`;
}

export function Reset() {
  // The token comes in the fragment (never sent to a server, never in a log); take it
  // and remove it from the address bar and history at once. (A `?token=` link of an
  // older mail works too.)
  const [token] = useState(
    () =>
      new URLSearchParams(location.hash.slice(1)).get('token') ||
      new URLSearchParams(location.search).get('token') ||
      '',
  );
  useEffect(() => {
    if (location.hash || location.search) history.replaceState(null, '', location.pathname);
  }, []);
  const form = useForm({ password: '', confirm: '' });
  if (!token) {
    return html`<${AuthCard} title="This link is incomplete">
      <p>Open the link from the mail again, or ask for a new one.</p>
      <p class="auth-links"><${Link} href="/forgot-password">Ask for a new link<//></p>
    <//>`;
  }
  return html`<${AuthCard} title="Choose a new password" lead="Every device will be signed out.">
    <form onSubmit=${form.submit(async ({ password, confirm }) => {
      if (password !== confirm) throw new Error('mismatch');
      await api.post('/auth/password-reset/confirm', { token, new_password: password }, { auth: false });
      if (api.signedIn()) await api.dropSession();
      toast('Your password is changed. Sign in with the new one.', { kind: 'success' });
      navigate('/sign-in', { replace: true });
    })}>
      <label for="reset-password">New password</label>
      <input id="reset-password" type="password" autocomplete="new-password" minlength="12" required ...${form.bind('password')} />
      <label for="reset-confirm">The same again</label>
      <input id="reset-confirm" type="password" autocomplete="new-password" minlength="12" required ...${form.bind('confirm')} />
      <${ErrorText} error=${form.error && (form.values.password !== form.values.confirm ? 'The two passwords differ.' : form.error)} />
      <button class="button primary wide" type="submit" disabled=${form.busy}>Save the new password</button>
    </form>
  <//>`;
}
