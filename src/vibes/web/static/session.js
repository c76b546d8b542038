// What follows a sign-in (or a resumed session): the profile, tags, live events, the sync
// feed, drafts.
import { syncDrafts } from './drafts.js';
import { startEvents } from './events.js';
import { onChanges, startFeed } from './feed.js';
import { loadTags, loadUser } from './state.js';

// A tag renamed, merged or deleted elsewhere, or a count that moved: the sidebar reloads.
onChanges((changes, { reset }) => {
  if (reset || changes.some((change) => change.kind === 'tag')) loadTags();
});

export async function afterSignIn() {
  await loadUser();
  loadTags();
  startEvents();
  startFeed();
  syncDrafts();
}
