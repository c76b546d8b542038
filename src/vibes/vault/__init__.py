"""Secret tags: phrase-locked private vaults, invisible while locked, encrypted at rest.

Modules: `crypto` (Argon2id, AES-256-GCM envelope, sealed payloads), `unlock` (unlock
tokens and the key cache), `access` (`VaultAccess`: the request's unlocked data keys),
`entries` (the visibility rule and sealed entries for the journals domain), `ratelimit`,
`service` and `router`.

What each party learns:
- a copy of the database: that the user has N secret tags and M secret entries (rows,
  sizes, entry dates, mood, word counts — kept in clear so date/mood filters work without
  decrypting), never a name, title, content or tag link; testing a phrase needs the server
  key AND one Argon2id run (m=64 MiB, t=3) per guess;
- the server key and the database together (e.g. a copy of the whole data folder, where
  keys.json sits beside vibes.db): the same, plus the per-user salts. Every phrase guess
  still costs one Argon2id run: the lookup hash is an HMAC of the Argon2id output (of the
  phrase under the user's salt), so there is no shortcut through it; the guesses are per
  user (the salt is), and nothing is learnt about a phrase without running Argon2id on it.
  Weak phrases stay guessable at Argon2id speed, as with any password hash;
- the raw files of the database (not a dump): on SQLite, a public entry moved into the
  vault leaves no trace (secure_delete, FTS5 merge, WAL checkpoint: `entries.
  forget_public_plaintext`); on PostgreSQL its old row version and index entries stay in
  the table/index files and the WAL until VACUUM and WAL recycling (a dump never shows
  them). The same holds for any public text edited or deleted before;
- the account password or an unlocked device without the phrase: nothing of the vault;
  every list, count and 404 is what it would be without it. The password can only destroy
  a tag (by id), never read it;
- Redis (when used as the unlock cache): opaque blobs that need both the server key and
  the client's unlock token to open.
"""
