"""`/docs` works offline: Swagger UI is served from the package, never from a CDN."""

from __future__ import annotations

import hashlib
import re

import httpx

from vibes.platform.apidocs import SWAGGER_UI_DIR, SWAGGER_UI_VERSION


async def test_docs_load_every_asset_from_this_server(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "cdn" not in page.text.lower()
    sources = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert len(sources) >= 3  # the script, the stylesheet, the icon
    for source in sources:
        assert source.startswith("/docs/assets/"), source  # no other host
        asset = await client.get(source)
        assert asset.status_code == 200, source
        assert asset.content
    assert "url: '/openapi.json'" in page.text or '"/openapi.json"' in page.text
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200
    assert (await client.get("/redoc")).status_code == 404  # it would need a CDN


async def test_docs_assets_are_served_with_their_types(client: httpx.AsyncClient) -> None:
    js = await client.get(f"/docs/assets/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}")
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    css = await client.get("/docs/assets/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css")
    assert (await client.get("/docs/assets/../../config.py")).status_code == 404


def test_the_vendored_files_are_the_pinned_release_with_their_licence() -> None:
    readme = (SWAGGER_UI_DIR / "README.md").read_text()
    assert f"VERSION {SWAGGER_UI_VERSION}" in readme
    assert "Apache License" in (SWAGGER_UI_DIR / "LICENSE").read_text()
    assert (SWAGGER_UI_DIR / "NOTICE").exists()
    for line in (SWAGGER_UI_DIR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((SWAGGER_UI_DIR / name).read_bytes()).hexdigest() == digest, name
