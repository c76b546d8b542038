"""Serve the web app: its pages at `/` and the SPA routes, its files under `/assets/`.

Every static file is read once at start-up, hashed and gzipped in memory (the whole app
is a few hundred kilobytes). Files are addressed by content hash (`app.1a2b3c4d5e.js`)
and cached for a year; the page itself is served `no-cache`, and carries an import map
that sends each module's plain name to its hashed URL, so the modules import one another
by plain relative names and a change to one file changes only that file's URL.

The page gets a strict Content-Security-Policy: everything from this origin, no inline
code but the import map (allowed by its SHA-256), no eval, no framing.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response

STATIC_DIR = Path(__file__).parent / "static"
ASSET_PREFIX = "/assets/"
# Paths the app routes itself (history API): each answers with the page.
PAGE_PATHS = (
    "/",
    "/sign-in",
    "/sign-up",
    "/forgot-password",
    "/reset-password",
    "/write",
    "/entries/{entry_id}",
    "/calendar",
    "/insights",
    "/search",
    "/tags",
    "/vault",
    "/reminders",
    "/settings",
    "/security",
    "/import-export",
)
IMMUTABLE = "public, max-age=31536000, immutable"
_COMPRESSIBLE = (".js", ".mjs", ".css", ".svg", ".json", ".txt", ".html", ".webmanifest")
_IMPORT_MAP_SLOT = "<!-- importmap -->"
_HASHED_NAME = re.compile(r"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{10})(?P<suffix>\.[A-Za-z0-9]+)$")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


@dataclass(frozen=True, slots=True)
class WebBundle:
    """The app's files, by URL path, and the page that loads them."""

    assets: dict[str, Asset]
    hashed: dict[str, str]  # plain URL path -> hashed URL path
    page: bytes
    page_gzipped: bytes
    csp: str


def _media_type(name: str) -> str:
    if name.endswith((".js", ".mjs")):
        return "text/javascript; charset=utf-8"
    guessed, _ = mimetypes.guess_type(name)
    if guessed is None:
        return "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("image/svg+xml", "application/json"):
        return f"{guessed}; charset=utf-8"
    return guessed


def _asset(name: str, body: bytes) -> Asset:
    digest = hashlib.sha256(body).hexdigest()
    gzipped = gzip.compress(body, 9, mtime=0) if name.endswith(_COMPRESSIBLE) else None
    if gzipped is not None and len(gzipped) >= len(body):
        gzipped = None
    return Asset(body, gzipped, _media_type(name), f'"{digest[:20]}"')


def _hashed_path(relative: str, body: bytes) -> str:
    stem, dot, suffix = relative.rpartition(".")
    digest = hashlib.sha256(body).hexdigest()[:10]
    return f"{ASSET_PREFIX}{stem}.{digest}.{suffix}" if dot else f"{ASSET_PREFIX}{relative}"


def page_csp(script_hashes: list[str]) -> str:
    scripts = " ".join(["'self'", *(f"'sha256-{h}'" for h in script_hashes)])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "font-src 'self'",
            "connect-src 'self'",
            "manifest-src 'self'",
            "worker-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def build_bundle(static_dir: Path = STATIC_DIR) -> WebBundle:
    """Read, hash and compress the static folder; render the page with its import map."""
    assets: dict[str, Asset] = {}
    hashed: dict[str, str] = {}
    for file in sorted(p for p in static_dir.rglob("*") if p.is_file()):
        relative = file.relative_to(static_dir).as_posix()
        if relative == "index.html" or relative.startswith("."):
            continue
        body = file.read_bytes()
        plain = f"{ASSET_PREFIX}{relative}"
        asset = _asset(relative, body)
        hashed[plain] = _hashed_path(relative, body)
        assets[plain] = asset
        assets[hashed[plain]] = asset
    import_map = json.dumps(
        {"imports": {plain: url for plain, url in hashed.items() if plain.endswith(".js")}},
        indent=None,
        separators=(",", ":"),
        sort_keys=True,
    )
    template = (static_dir / "index.html").read_text(encoding="utf-8")
    # `{{/assets/x}}` in the page becomes x's hashed URL.
    page = re.sub(r"\{\{(/assets/[^}]+)\}\}", lambda m: hashed[m.group(1)], template)
    script = f'<script type="importmap">{import_map}</script>'
    page = page.replace(_IMPORT_MAP_SLOT, script)
    map_hash = base64.b64encode(hashlib.sha256(import_map.encode()).digest()).decode()
    page_bytes = page.encode()
    return WebBundle(
        assets=assets,
        hashed=hashed,
        page=page_bytes,
        page_gzipped=gzip.compress(page_bytes, 9, mtime=0),
        csp=page_csp([map_hash]),
    )


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def _answer(
    request: Request, body: bytes, gzipped: bytes | None, headers: dict[str, str]
) -> Response:
    headers = {**headers, "Vary": "Accept-Encoding"}
    if gzipped is not None and _accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        body = gzipped
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers)
    return Response(content=body, status_code=200, headers=headers)


def make_router(bundle: WebBundle) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    page_headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-cache",
        "Content-Security-Policy": bundle.csp,
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }

    async def page(request: Request) -> Response:
        return _answer(request, bundle.page, bundle.page_gzipped, page_headers)

    for path in PAGE_PATHS:
        router.add_api_route(path, page, methods=["GET", "HEAD"])

    @router.api_route(ASSET_PREFIX + "{path:path}", methods=["GET", "HEAD"])
    async def asset(request: Request, path: str) -> Response:
        url = ASSET_PREFIX + path
        found = bundle.assets.get(url)
        if found is None:
            return Response(status_code=404, headers={"Cache-Control": "no-store"})
        immutable = url not in bundle.hashed and _HASHED_NAME.match(path) is not None
        if not immutable and request.headers.get("if-none-match") == found.etag:
            return Response(status_code=304, headers={"ETag": found.etag})
        headers = {
            "Content-Type": found.media_type,
            "Cache-Control": IMMUTABLE if immutable else "no-cache",
            "ETag": found.etag,
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        }
        return _answer(request, found.body, found.gzipped, headers)

    return router


def install_web(app: FastAPI) -> None:
    """Serve the web app from this process (the JSON API stays under /api/v1)."""
    bundle = build_bundle()
    app.include_router(make_router(bundle))
