// What follows a sign-in (or a resumed session): the profile, tags, live events, drafts.
import { syncDrafts } from './drafts.js';
import { startEvents } from './events.js';
import { loadTags, loadUser } from './state.js';

export async function afterSignIn() {
  await loadUser();
  loadTags();
  startEvents();
  syncDrafts();
}
