// The JSON API client. The access token lives in this module's memory only; the refresh
// token is an HttpOnly cookie that script never sees, spent through /auth/web/refresh.
// Tabs take turns refreshing (a Web Lock), so two tabs never spend one cookie twice.

const BASE = '/api/v1';
const WEB_AUTH = `${BASE}/auth/web`;
const CSRF = { 'X-Vibes-CSRF': '1' };
const REFRESH_LOCK = 'vibes-refresh';

let access = null; // {token, expiresAt}
let refreshTimer = 0;
let refreshing = null;
const unlocks = new Map(); // unlock token -> {token, expiresAt, tags, timer}
const listeners = new Set();
const channel = 'BroadcastChannel' in self ? new BroadcastChannel('vibes-auth') : null;

/** Subscribe to 'signed-in', 'signed-out', 'vault' (lock state) and 'network' events. */
export function on(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function emit(type, detail) {
  for (const listener of listeners) listener(type, detail);
}

channel?.addEventListener('message', (event) => {
  if (event.data === 'signed-out') {
    forget();
    emit('signed-out', { elsewhere: true });
  }
});

/** A problem document the API answered, or a failure to reach it at all. */
export class ApiError extends Error {
  constructor(status, problem = {}, headers = new Headers()) {
    super(problem.detail || problem.title || `Request failed (${status})`);
    this.status = status;
    this.problem = problem;
    this.retryAfter = Number(headers.get('Retry-After')) || null;
  }
  get offline() {
    return this.status === 0;
  }
}

/** What to tell a person about an error, in plain words. */
export function describe(error) {
  if (!(error instanceof ApiError)) return 'Something went wrong. Please try again.';
  const p = error.problem || {};
  switch (error.status) {
    case 0:
      return 'You seem to be offline. Your work is kept on this device and will be sent when the connection is back.';
    case 401:
      return p.detail || 'Please sign in again.';
    case 403:
      return p.detail || 'This is not allowed.';
    case 404:
      return 'This could not be found. It may have been deleted, or it is in a locked vault.';
    case 409:
      return p.detail || 'This conflicts with something that already exists.';
    case 412:
      return 'This was changed on another device in the meantime.';
    case 413:
      return 'This is too large to save (an entry can hold up to 1 MiB of text).';
    case 422: {
      const first = Array.isArray(p.errors) && p.errors[0];
      if (first) {
        const field = (first.loc || []).filter((part) => part !== 'body').join(' ');
        return field ? `${field}: ${first.msg}` : first.msg;
      }
      return p.detail || 'Some of the values are not valid.';
    }
    case 429: {
      const wait = error.retryAfter;
      return wait
        ? `Too many attempts. Please wait ${formatWait(wait)} and try again.`
        : 'Too many attempts. Please wait a little and try again.';
    }
    default:
      if (error.status >= 500) return 'The server had a problem. Please try again in a moment.';
      return p.detail || p.title || 'Something went wrong.';
  }
}

function formatWait(seconds) {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minutes`;
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

function setAccess(token, expiresIn) {
  access = { token, expiresAt: Date.now() + expiresIn * 1000 };
  clearTimeout(refreshTimer);
  // Refresh a minute before expiry, with jitter so tabs do not line up.
  const delay = Math.max(5_000, (expiresIn - 60) * 1000 - Math.random() * 20_000);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), delay);
}

function forget() {
  access = null;
  clearTimeout(refreshTimer);
  for (const unlock of unlocks.values()) clearTimeout(unlock.timer);
  unlocks.clear();
}

export function signedIn() {
  return access !== null;
}

export function accessToken() {
  return access?.token ?? null;
}

function withRefreshLock(task) {
  if (navigator.locks?.request) return navigator.locks.request(REFRESH_LOCK, task);
  return task();
}

/** Spend the refresh cookie for a new access token. One at a time, across all tabs. */
export function refresh() {
  if (!refreshing) {
    refreshing = withRefreshLock(async () => {
      let response;
      try {
        response = await fetch(`${WEB_AUTH}/refresh`, {
          method: 'POST',
          headers: CSRF,
          credentials: 'same-origin',
        });
      } catch {
        throw new ApiError(0);
      }
      if (!response.ok) {
        const error = new ApiError(response.status, await problemOf(response), response.headers);
        if (response.status === 401) {
          const had = access !== null;
          forget();
          if (had) emit('signed-out', { expired: true });
        }
        throw error;
      }
      if (response.status === 204) {
        // No session cookie in this browser.
        throw new ApiError(401, { detail: 'Not signed in.' });
      }
      const body = await response.json();
      setAccess(body.access_token, body.expires_in);
      return true;
    }).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/** At start: a session from the cookie, if there is one. */
export async function resume() {
  try {
    await refresh();
    return true;
  } catch (error) {
    if (error.offline) throw error;
    return false;
  }
}

/**
 * Sign in with the password. Resolves to `{ mfaToken }` when the account uses two-factor
 * sign-in (the `mfa-required` problem): finish with `verifyTwoFactor`.
 */
export async function signIn(email, password) {
  let response;
  try {
    response = await send('POST', `${WEB_AUTH}/login`, {
      body: { email, password, device_name: deviceName() },
      headers: CSRF,
      auth: false,
    });
  } catch (error) {
    const type = error instanceof ApiError ? error.problem.type || '' : '';
    if (error.status === 401 && type.endsWith('/mfa-required') && error.problem.mfa_token) {
      return { mfaToken: error.problem.mfa_token };
    }
    throw error;
  }
  setAccess(response.access_token, response.expires_in);
  emit('signed-in');
  return null;
}

/** The second step of a two-factor sign-in: a code from the app, or a recovery code. */
export async function verifyTwoFactor(mfaToken, { code, recoveryCode }) {
  const body = { mfa_token: mfaToken };
  if (recoveryCode) body.recovery_code = recoveryCode;
  else body.code = code;
  const response = await send('POST', `${WEB_AUTH}/2fa/verify`, { body, headers: CSRF, auth: false });
  setAccess(response.access_token, response.expires_in);
  emit('signed-in');
}

export async function signOut() {
  try {
    await send('POST', `${WEB_AUTH}/logout`, { headers: CSRF, retry: false });
  } catch {
    // Signed out locally either way; the session ends on the server when it can.
  }
  forget();
  channel?.postMessage('signed-out');
  emit('signed-out', {});
}

/** After the account is gone or every session was revoked: drop the cookie too. */
export async function dropSession() {
  await fetch(`${WEB_AUTH}/logout`, { method: 'POST', headers: CSRF }).catch(() => {});
  forget();
  channel?.postMessage('signed-out');
  emit('signed-out', {});
}

function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrom(e|ium)\//.test(ua)
        ? 'Chromium'
        : /Safari\//.test(ua)
          ? 'Safari'
          : 'Browser';
  const system = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad/.test(ua)
      ? 'iOS'
      : /Mac OS/.test(ua)
        ? 'macOS'
        : /Windows/.test(ua)
          ? 'Windows'
          : /Linux/.test(ua)
            ? 'Linux'
            : 'web';
  return `${browser} on ${system} (web app)`;
}

// --- the vault's unlock tokens (memory only, per tab) ----------------------------------

export function unlockedTags() {
  const tags = [];
  for (const unlock of unlocks.values()) tags.push(...unlock.tags);
  return tags;
}

export function unlockExpiry(tagId) {
  for (const unlock of unlocks.values()) {
    if (unlock.tags.some((tag) => tag.id === tagId)) return unlock.expiresAt;
  }
  return null;
}

export function addUnlock(token, expiresIn, tags) {
  const expiresAt = Date.now() + expiresIn * 1000;
  const timer = setTimeout(() => {
    unlocks.delete(token);
    emit('vault', { locked: tags, expired: true });
  }, expiresIn * 1000);
  unlocks.set(token, { token, expiresAt, tags, timer });
  emit('vault', { unlocked: tags });
}

export async function lockTag(tagId) {
  for (const unlock of [...unlocks.values()]) {
    if (!unlock.tags.some((tag) => tag.id === tagId)) continue;
    unlocks.delete(unlock.token);
    clearTimeout(unlock.timer);
    await send('POST', '/secret-tags/lock', {
      headers: { 'X-Vibes-Unlock': unlock.token },
      unlock: false,
    }).catch(() => {});
    emit('vault', { locked: unlock.tags });
  }
}

export function renameUnlocked(tag) {
  for (const unlock of unlocks.values()) {
    unlock.tags = unlock.tags.map((t) => (t.id === tag.id ? { ...t, ...tag } : t));
  }
  emit('vault', {});
}

export function forgetUnlocked(tagId) {
  for (const unlock of [...unlocks.values()]) {
    if (unlock.tags.some((tag) => tag.id === tagId)) {
      clearTimeout(unlock.timer);
      unlocks.delete(unlock.token);
    }
  }
  emit('vault', {});
}

// --- requests -----------------------------------------------------------------------

/**
 * One API call. `path` is relative to /api/v1 unless absolute. Options: `body` (JSON),
 * `query` (object; arrays repeat), `headers`, `ifMatch` (a version), `idempotencyKey`,
 * `raw` (return the Response), `auth` (default true), `unlock` (default true).
 * Resolves to the parsed JSON (null for 204), with the ETag version in `.version` of
 * the answer's `meta` when `withMeta` is set.
 */
export async function send(method, path, options = {}) {
  const { retry = true } = options;
  const response = await fetchOnce(method, path, options);
  if (response.status === 401 && options.auth !== false && retry && access) {
    await refresh();
    return handle(await fetchOnce(method, path, options), options);
  }
  return handle(response, options);
}

async function fetchOnce(method, path, options) {
  const url = new URL(path.startsWith('/api/') ? path : BASE + path, location.origin);
  for (const [key, value] of Object.entries(options.query || {})) {
    if (value === undefined || value === null || value === '') continue;
    for (const one of Array.isArray(value) ? value : [value]) url.searchParams.append(key, one);
  }
  const headers = new Headers(options.headers || {});
  headers.set('Accept', 'application/json');
  if (options.auth !== false && access) headers.set('Authorization', `Bearer ${access.token}`);
  if (options.unlock !== false && unlocks.size) {
    headers.set('X-Vibes-Unlock', [...unlocks.keys()].join(', '));
  }
  if (options.ifMatch !== undefined) headers.set('If-Match', `"${options.ifMatch}"`);
  if (options.idempotencyKey) headers.set('Idempotency-Key', options.idempotencyKey);
  let body;
  if (options.body !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(options.body);
  }
  try {
    return await fetch(url, {
      method,
      headers,
      body,
      credentials: 'same-origin',
      signal: options.signal,
    });
  } catch (error) {
    if (error?.name === 'AbortError') throw error;
    emit('network', { online: false });
    throw new ApiError(0);
  }
}

async function handle(response, options) {
  if (options.raw) return response;
  if (!response.ok) {
    throw new ApiError(response.status, await problemOf(response), response.headers);
  }
  if (response.status === 204) return null;
  const data = await response.json();
  if (options.withMeta) {
    const etag = response.headers.get('ETag');
    return { data, version: etag ? Number(etag.replaceAll('"', '')) : data.version };
  }
  return data;
}

export const get = (path, query, options = {}) => send('GET', path, { ...options, query });
export const post = (path, body, options = {}) => send('POST', path, { ...options, body });
export const patch = (path, body, options = {}) => send('PATCH', path, { ...options, body });
export const del = (path, body, options = {}) => send('DELETE', path, { ...options, body });

/** Every page of a cursor-paginated list (bounded). */
export async function all(path, query = {}, pages = 20) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < pages; i += 1) {
    const page = await get(path, { ...query, limit: 100, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

// --- files: downloads and uploads with progress -------------------------------------

function authHeaders() {
  const headers = {};
  if (access) headers.Authorization = `Bearer ${access.token}`;
  if (unlocks.size) headers['X-Vibes-Unlock'] = [...unlocks.keys()].join(', ');
  return headers;
}

/** A GET answered with a file: `{blob, filename}` (the name from Content-Disposition). */
export async function download(path, query) {
  const response = await send('GET', path, { query, raw: true });
  if (!response.ok) throw new ApiError(response.status, await problemOf(response), response.headers);
  const disposition = response.headers.get('Content-Disposition') || '';
  const filename = /filename="([^"]+)"/.exec(disposition)?.[1] || 'download';
  return { blob: await response.blob(), filename };
}

function xhrUpload(url, field, file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', url);
    for (const [name, value] of Object.entries(authHeaders())) request.setRequestHeader(name, value);
    request.setRequestHeader('Accept', 'application/json');
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress?.(event.loaded / event.total);
    };
    request.onload = () => resolve(request);
    request.onerror = () => reject(new ApiError(0));
    const form = new FormData();
    form.append(field, file, file.name);
    request.send(form);
  });
}

/**
 * A multipart POST of one file (fetch cannot report upload progress: XMLHttpRequest
 * does). `onProgress(fraction)` as the bytes go out; resolves to the parsed answer.
 */
export async function upload(path, query, file, { field = 'file', onProgress } = {}) {
  const url = new URL(BASE + path, location.origin);
  for (const [key, value] of Object.entries(query || {})) url.searchParams.append(key, value);
  let request = await xhrUpload(url, field, file, onProgress);
  if (request.status === 401 && access) {
    await refresh();
    request = await xhrUpload(url, field, file, onProgress);
  }
  let body = {};
  try {
    body = JSON.parse(request.responseText);
  } catch {
    body = {};
  }
  if (request.status < 200 || request.status >= 300) {
    const headers = new Headers();
    const retry = request.getResponseHeader('Retry-After');
    if (retry) headers.set('Retry-After', retry);
    throw new ApiError(request.status, body, headers);
  }
  return body;
}
