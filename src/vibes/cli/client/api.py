"""A small typed client of the Vibes HTTP API over httpx: bearer tokens, transparent
refresh, unlock tokens, problem documents turned into exceptions with exit codes."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from vibes.cli.client.store import Profile, Store

API = "/api/v1"
# A create sent with a key is retried after a lost answer, waiting this long between tries:
# the server replays the first answer if it had committed (docs/clients.md).
RETRY_PAUSES = (0.5, 2.0)
USER_AGENT = "vibes-cli"
UNLOCK_HEADER = "X-Vibes-Unlock"


class ExitCode:
    """What `vibes` client commands exit with (documented in the README)."""

    OK = 0
    ERROR = 1  # the server answered a problem (validation, rate limit, server error)
    USAGE = 2  # bad command line (Typer/Click's own code)
    AUTH = 3  # not signed in, session over, wrong credentials, forbidden
    NOT_FOUND = 4
    CONFLICT = 5  # 409, or 412: the object changed since it was read
    UNREACHABLE = 6  # no answer from the server (connection refused, timeout, TLS)


class ClientError(Exception):
    """An error the command line shows as one line on stderr, then exits with `code`."""

    code = ExitCode.ERROR

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotSignedIn(ClientError):
    code = ExitCode.AUTH


class Unreachable(ClientError):
    code = ExitCode.UNREACHABLE


class Problem(ClientError):
    """An RFC 9457 problem document the server answered."""

    def __init__(self, response: httpx.Response) -> None:
        body: dict[str, Any] = {}
        try:
            parsed = response.json()
            if isinstance(parsed, dict):
                body = parsed
        except ValueError:
            pass
        self.status = response.status_code
        self.body = body
        self.kind = str(body.get("type") or "").rsplit("/", 1)[-1]
        title = str(body.get("title") or response.reason_phrase or "Error")
        detail = str(body.get("detail") or "")
        message = title if not detail or detail == title else f"{title}: {detail}"
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            where = ".".join(str(p) for p in first.get("loc", []) if p != "body")
            message = f"{title}: {where + ': ' if where else ''}{first.get('msg', '')}"
            if len(errors) > 1:
                message += f" (and {len(errors) - 1} more)"
        if self.status == 429 and response.headers.get("Retry-After"):
            message += f" (retry in {response.headers['Retry-After']} s)"
        super().__init__(f"{message} [{self.status}]", _code_of(self.status))


def _code_of(status: int) -> int:
    if status in (401, 403):
        return ExitCode.AUTH
    if status in (404, 410):
        return ExitCode.NOT_FOUND
    if status in (409, 412):
        return ExitCode.CONFLICT
    return ExitCode.ERROR


def _token_refused(response: httpx.Response) -> bool:
    """A 401 about the bearer token itself (not a wrong phrase or code, say)."""
    if response.status_code != 401:
        return False
    response.read()
    kind = Problem(response).kind
    return kind in ("unauthorized", "")


def _expiry(expires_in: object) -> str | None:
    if not isinstance(expires_in, int):
        return None
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_in)).isoformat()


def normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    return url.removesuffix(API)


class Client:
    """One profile's connection to its server. Use as a context manager."""

    def __init__(self, store: Store, profile_name: str, profile: Profile | None = None) -> None:
        self.store = store
        self.profile_name = profile_name
        self.profile = profile if profile is not None else store.profile(profile_name)
        self._http: httpx.Client | None = None

    # -- plumbing --------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            if not self.profile.url:
                raise NotSignedIn("not signed in: run `vibes login URL` first")
            self._http = httpx.Client(
                base_url=self.profile.url,
                timeout=httpx.Timeout(30.0, connect=10.0),
                headers={"User-Agent": USER_AGENT},
            )
        return self._http

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.profile.access_token:
            headers["Authorization"] = f"Bearer {self.profile.access_token}"
        unlocks = self.profile.live_unlocks()
        if unlocks:
            headers[UNLOCK_HEADER] = ", ".join(u.token for u in unlocks)
        return headers

    def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        try:
            return self.http.send(request, stream=stream)
        except httpx.TimeoutException:
            raise Unreachable(f"{self.profile.url} did not answer in time") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach {self.profile.url}: {exc}") from None

    def _send_retrying(self, build: Callable[[], httpx.Request], *, stream: bool) -> httpx.Response:
        """Send; a request carrying an `Idempotency-Key` is sent again with the same key
        when its answer was lost (timeout, broken connection): the write it asked for may
        have happened, and the key makes the server replay it instead of writing twice."""
        request = build()
        if "Idempotency-Key" not in request.headers:
            return self._send(request, stream=stream)
        for pause in RETRY_PAUSES:
            try:
                return self._send(request, stream=stream)
            except Unreachable:
                time.sleep(pause)
                request = build()
        return self._send(request, stream=stream)

    def post_once(self, path: str, body: Any) -> Any:
        """POST a create with a fresh `Idempotency-Key`: retried after a lost answer, it
        is still written once."""
        return self.post(path, body, headers={"Idempotency-Key": str(uuid.uuid4())})

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        files: Any = None,
        auth: bool = True,
        stream: bool = False,
        ok: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send; on 401 refresh the session once and send again. A status >= 400 that is
        not in `ok` raises `Problem` (or `NotSignedIn`)."""
        if auth and not self.profile.access_token:
            raise NotSignedIn("not signed in: run `vibes login` first")
        if auth and self._access_expired():
            self._refresh()

        def build() -> httpx.Request:
            return self.http.build_request(
                method,
                f"{API}{path}",
                json=json,
                params=params,
                files=files,
                headers=self._headers(headers) if auth else dict(headers or {}),
            )

        response = self._send_retrying(build, stream=stream)
        if auth and self.profile.kind == "session" and _token_refused(response):
            response.close()
            self._refresh()
            response = self._send_retrying(build, stream=stream)
        if response.status_code >= 400 and response.status_code not in ok:
            if stream:
                response.read()
                response.close()
            if auth and _token_refused(response):
                raise NotSignedIn(f"{Problem(response).message}: sign in with `vibes login`")
            raise Problem(response)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self.request("POST", path, json=body, **kwargs)
        return response.json() if response.content else None

    def pages(self, path: str, params: dict[str, Any], limit: int | None) -> Iterator[Any]:
        """Items of a cursor-paginated list, following `next_cursor` up to `limit` items."""
        params = dict(params)
        seen = 0
        while True:
            want = 100 if limit is None else min(100, limit - seen)
            page = self.get(path, params={**params, "limit": want})
            for item in page["items"]:
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            cursor = page.get("next_cursor")
            if not cursor:
                return
            params["cursor"] = cursor

    # -- sessions --------------------------------------------------------------------

    def _access_expired(self) -> bool:
        expires = self.profile.access_expires_at
        if self.profile.kind != "session" or not expires:
            return False
        # A little early: the token must still be valid when the request arrives.
        margin = dt.timedelta(seconds=15)
        return dt.datetime.fromisoformat(expires) - margin <= dt.datetime.now(dt.UTC)

    def _refresh(self) -> None:
        """Trade the refresh token for a new pair, under the store's lock: a second
        `vibes` refreshing at the same moment waits, then finds the new pair stored."""
        if self.profile.kind != "session" or not self.profile.refresh_token:
            raise NotSignedIn("the access token is no longer valid: run `vibes login`")
        used = self.profile.refresh_token
        with self.store.edit() as profiles:
            stored = profiles.get(self.profile_name)
            if stored is not None and stored.refresh_token and stored.refresh_token != used:
                self.profile = stored  # another process refreshed already
                return
            request = self.http.build_request(
                "POST",
                f"{API}/auth/refresh",
                json={"refresh_token": used},
                # A retry after a lost answer replays the same new pair (no revocation).
                headers={"Idempotency-Key": hashlib.sha256(used.encode()).hexdigest()[:64]},
            )
            response = self._send(request)
            if response.status_code == 200:
                self.set_pair(response.json())
                profiles[self.profile_name] = self.profile
                return
            # Spent, revoked or expired: forget the dead tokens (the URL and email stay).
            self.profile.sign_out()
            profiles[self.profile_name] = self.profile
        raise NotSignedIn(f"the session has ended ({Problem(response).message}): run `vibes login`")

    def set_pair(self, pair: dict[str, Any]) -> None:
        self.profile.kind = "session"
        self.profile.access_token = pair["access_token"]
        self.profile.refresh_token = pair["refresh_token"]
        self.profile.access_expires_at = _expiry(pair.get("expires_in"))

    def save(self) -> None:
        self.store.save_profile(self.profile_name, self.profile)
