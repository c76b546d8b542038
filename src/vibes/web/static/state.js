// What several views share: the signed-in user, their tags, toasts, and navigation.
import { useEffect, useReducer } from './vendor/preact-htm.js';
import * as api from './api.js';

export const state = {
  user: null,
  tags: [],
  toasts: [],
  vaultVersion: 0, // bumps whenever a vault locks or unlocks: lists reload
};
const listeners = new Set();

export function update(patch) {
  Object.assign(state, patch);
  for (const listener of listeners) listener();
}

/** Re-render the calling component whenever the shared state changes. */
export function useShared() {
  const [, force] = useReducer((n) => n + 1, 0);
  useEffect(() => {
    listeners.add(force);
    return () => listeners.delete(force);
  }, []);
  return state;
}

let toastId = 0;
/** A short message in the corner (announced to screen readers). */
export function toast(message, { kind = 'info', timeout = 6000, action = null } = {}) {
  const id = (toastId += 1);
  update({ toasts: [...state.toasts, { id, message, kind, action }] });
  if (timeout) setTimeout(() => dismiss(id), timeout);
  return id;
}

export function dismiss(id) {
  update({ toasts: state.toasts.filter((t) => t.id !== id) });
}

export async function loadTags() {
  try {
    update({ tags: await api.get('/tags') });
  } catch {
    // The sidebar keeps what it had.
  }
}

export async function loadUser() {
  update({ user: await api.get('/users/me') });
}

export function userZone() {
  return state.user?.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

// --- navigation (history API) ---------------------------------------------------------

const routeListeners = new Set();

export function navigate(to, { replace = false } = {}) {
  if (to === location.pathname + location.search + location.hash) return;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const listener of routeListeners) listener();
  window.scrollTo(0, 0);
}

export function useRoute() {
  const [, force] = useReducer((n) => n + 1, 0);
  useEffect(() => {
    routeListeners.add(force);
    window.addEventListener('popstate', force);
    return () => {
      routeListeners.delete(force);
      window.removeEventListener('popstate', force);
    };
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}
