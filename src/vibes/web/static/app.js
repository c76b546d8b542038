// The shell: start-up, routes, sidebar, shortcuts, toasts, the live event stream.
// Each view is its own module, loaded when first opened (views/*.js).
import { html, render, useEffect, useState } from './vendor/preact-htm.js';
import * as api from './api.js';
import { stopEvents } from './events.js';
import { stopFeed } from './feed.js';
import { syncDrafts } from './drafts.js';
import { afterSignIn } from './session.js';
import {
  dismiss,
  loadTags,
  navigate,
  state,
  toast,
  update,
  useRoute,
  useShared,
} from './state.js';
import { Link, TagChip } from './ui.js';

const VIEWS = {
  auth: () => import('./views/auth.js'),
  timeline: () => import('./views/timeline.js'),
  editor: () => import('./views/editor.js'),
  calendar: () => import('./views/calendar.js'),
  insights: () => import('./views/insights.js'),
  search: () => import('./views/search.js'),
  tags: () => import('./views/tags.js'),
  vault: () => import('./views/vault.js'),
  reminders: () => import('./views/reminders.js'),
  settings: () => import('./views/settings.js'),
  security: () => import('./views/security.js'),
  portability: () => import('./views/portability.js'),
};

const PUBLIC = {
  '/sign-in': ['auth', 'SignIn', 'Sign in'],
  '/sign-up': ['auth', 'SignUp', 'Create your journal'],
  '/forgot-password': ['auth', 'Forgot', 'Forgot password'],
  '/reset-password': ['auth', 'Reset', 'Choose a new password'],
};

const PRIVATE = [
  [/^\/$/, 'timeline', 'default', 'Journal'],
  [/^\/write$/, 'editor', 'default', 'New entry'],
  [/^\/entries\/([0-9a-f-]{36})$/, 'editor', 'default', 'Entry'],
  [/^\/calendar$/, 'calendar', 'default', 'Calendar'],
  [/^\/insights$/, 'insights', 'default', 'Insights'],
  [/^\/search$/, 'search', 'default', 'Search'],
  [/^\/tags$/, 'tags', 'default', 'Tags'],
  [/^\/vault$/, 'vault', 'default', 'Vault'],
  [/^\/reminders$/, 'reminders', 'default', 'Reminders'],
  [/^\/settings$/, 'settings', 'default', 'Settings'],
  [/^\/security$/, 'security', 'default', 'Security'],
  [/^\/import-export$/, 'portability', 'default', 'Import and export'],
];

const loaded = new Map();

function useModule(name) {
  const [module, setModule] = useState(() => loaded.get(name) || null);
  useEffect(() => {
    if (loaded.has(name)) {
      setModule(loaded.get(name));
      return;
    }
    let live = true;
    VIEWS[name]().then((m) => {
      loaded.set(name, m);
      if (live) setModule(m);
    });
    return () => {
      live = false;
    };
  }, [name]);
  return module && loaded.get(name) === module ? module : null;
}

function View({ module: name, exported, params, query, title }) {
  const module = useModule(name);
  useEffect(() => {
    document.title = title ? `${title} · Vibes` : 'Vibes';
  }, [title]);
  if (!module) return html`<div class="view-loading" aria-busy="true"><div class="skeleton"></div></div>`;
  const Component = module[exported];
  return html`<${Component} params=${params} query=${query} />`;
}

function Toasts() {
  const { toasts } = useShared();
  return html`<div class="toasts" role="status" aria-live="polite">
    ${toasts.map(
      (t) => html`<div class=${`toast toast-${t.kind}`} key=${t.id}>
        <span>${t.message}</span>
        ${t.action &&
        html`<button class="link" onClick=${() => { t.action.run(); dismiss(t.id); }}>${t.action.label}</button>`}
        <button class="icon" aria-label="Dismiss" onClick=${() => dismiss(t.id)}>×</button>
      </div>`,
    )}
  </div>`;
}

const NAV = [
  ['/', 'Journal'],
  ['/calendar', 'Calendar'],
  ['/insights', 'Insights'],
  ['/search', 'Search'],
  ['/reminders', 'Reminders'],
  ['/vault', 'Vault'],
  ['/tags', 'Tags'],
  ['/settings', 'Settings'],
  ['/security', 'Security'],
  ['/import-export', 'Import & export'],
];

function Sidebar({ path, open, onClose }) {
  const { user, tags } = useShared();
  const vaultOpen = api.unlockedTags().length > 0;
  const visible = [...tags].sort((a, b) => b.journal_count - a.journal_count).slice(0, 12);
  return html`<nav class=${`sidebar${open ? ' open' : ''}`} aria-label="Main" id="sidebar">
    <div class="brand"><span class="brand-mark" aria-hidden="true"></span>Vibes</div>
    <${Link} class="button primary new-entry" href="/write" onClick=${onClose}>
      New entry <kbd aria-hidden="true">N</kbd>
    <//>
    <ul class="nav-list">
      ${NAV.map(
        ([href, label]) => html`<li key=${href}>
          <${Link}
            href=${href}
            aria-current=${path === href ? 'page' : undefined}
            onClick=${onClose}
          >${label}${href === '/vault' && vaultOpen ? html` <span class="nav-badge">open</span>` : ''}<//>
        </li>`,
      )}
    </ul>
    <section class="side-tags" aria-labelledby="side-tags-title">
      <h2 id="side-tags-title" class="side-heading">Tags</h2>
      ${visible.length === 0
        ? html`<p class="muted small">Tags you add to entries show up here.</p>`
        : html`<ul class="tag-list">
            ${visible.map(
              (tag) => html`<li key=${tag.id}>
                <${TagChip} name=${tag.name} color=${tag.color} href=${`/?tag=${encodeURIComponent(tag.name)}`} />
                <span class="count" aria-label=${`${tag.journal_count} entries`}>${tag.journal_count}</span>
              </li>`,
            )}
          </ul>`}
    </section>
    <p class="sidebar-hint">Press <kbd>?</kbd> for keyboard shortcuts</p>
    <div class="side-foot">
      <span class="muted small who">${user?.display_name || user?.email || ''}</span>
      <button class="link" onClick=${() => api.signOut()}>Sign out</button>
    </div>
  </nav>`;
}

function Shell() {
  const route = useRoute();
  let { path } = route;
  const { query } = route;
  const { user } = useShared();
  const [menu, setMenu] = useState(false);
  useEffect(() => {
    if (!menu) return undefined;
    const close = (event) => event.key === 'Escape' && setMenu(false);
    document.addEventListener('keydown', close);
    return () => document.removeEventListener('keydown', close);
  }, [menu]);
  // Redirects rewrite the address in place: this render already shows the right view.
  if (!user && !PUBLIC[path]) {
    history.replaceState(null, '', '/sign-in');
    path = '/sign-in';
  } else if (user && PUBLIC[path] && path !== '/reset-password') {
    history.replaceState(null, '', '/');
    path = '/';
  }
  const publicRoute = PUBLIC[path];
  if (publicRoute) {
    const [name, exported, title] = publicRoute;
    return html`<main class="auth-page" id="main">
        <${View} key=${path} module=${name} exported=${exported} title=${title} query=${query} params=${[]} />
      </main>
      <${Toasts} />`;
  }
  let match = null;
  for (const [pattern, name, exported, title] of PRIVATE) {
    const found = path.match(pattern);
    if (found) {
      match = { name, exported, title, params: found.slice(1) };
      break;
    }
  }
  return html`<a class="skip" href="#main">Skip to content</a>
    <header class="topbar">
      <button
        class="icon menu-button"
        aria-expanded=${menu}
        aria-controls="sidebar"
        aria-label="Menu"
        onClick=${() => setMenu(!menu)}
      >☰</button>
      <span class="brand small-brand"><span class="brand-mark" aria-hidden="true"></span>Vibes</span>
      <${Link} class="button primary compact" href="/write">New</${Link}>
    </header>
    <div class="layout">
      <${Sidebar} path=${path} open=${menu} onClose=${() => setMenu(false)} />
      <main id="main" class="content" tabindex="-1">
        ${match
          ? html`<${View}
              key=${match.name === 'editor' ? 'editor' : path}
              module=${match.name}
              exported=${match.exported}
              params=${match.params}
              query=${query}
              title=${match.title}
            />`
          : html`<section class="empty-state"><h1>Not found</h1>
              <p>There is nothing at this address.</p><${Link} href="/">Back to the journal<//></section>`}
      </main>
    </div>
    <${Toasts} />`;
}

function typing(target) {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))
  );
}

document.addEventListener('keydown', (event) => {
  if (!state.user || event.defaultPrevented) return;
  const mod = event.metaKey || event.ctrlKey;
  if (mod && event.key.toLowerCase() === 'k') {
    event.preventDefault();
    navigate('/search');
    return;
  }
  if (mod || event.altKey || typing(event.target)) return;
  if (event.key === '?') {
    toast('Shortcuts: N new entry · / or Ctrl+K search · Ctrl+S save now · Esc closes the menu', {
      timeout: 10000,
    });
  } else if (event.key === 'n' || event.key === 'N') {
    event.preventDefault();
    navigate('/write');
  } else if (event.key === '/') {
    event.preventDefault();
    navigate('/search');
  }
});

api.on((type, detail) => {
  if (type === 'signed-out') {
    stopEvents();
    stopFeed();
    update({ user: null, tags: [] });
    if (detail?.expired) toast('Your session ended. Please sign in again.', { kind: 'warn' });
    navigate('/sign-in', { replace: true });
  } else if (type === 'vault') {
    update({ vaultVersion: state.vaultVersion + 1 });
    if (detail?.expired) toast('The vault locked itself (the unlock expired).', { kind: 'info' });
    loadTags();
  }
});

window.addEventListener('online', () => {
  if (state.user) syncDrafts();
});

async function boot() {
  const root = document.getElementById('app');
  let resumed = false;
  try {
    resumed = await api.resume();
  } catch {
    resumed = false;
  }
  if (resumed) {
    try {
      await afterSignIn();
    } catch {
      update({ user: null });
    }
  }
  root.classList.remove('boot');
  root.removeAttribute('aria-busy');
  root.textContent = '';
  render(html`<${Shell} />`, root);
}

boot();
