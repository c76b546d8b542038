"""How the app's page and files are served: CSP, hashed names, caching, compression."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import httpx
import pytest

from vibes.web.serve import PAGE_PATHS, STATIC_DIR, build_bundle

# The whole app a first visit loads (every module, the stylesheet), compressed.
BUDGET_BYTES = 250 * 1024


async def test_page_routes_answer_the_page_with_a_strict_csp(client: httpx.AsyncClient) -> None:
    for path in PAGE_PATHS:
        response = await client.get(
            path.replace("{entry_id}", "0" * 8 + "-0000-0000-0000-" + "0" * 12)
        )
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        csp = response.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["object-src"] == "'none'"
        assert "unsafe" not in csp


async def test_the_inline_import_map_is_the_only_inline_script_and_its_hash_is_allowed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", response.text, re.S)
    inline = [body for attributes, body in scripts if "src=" not in attributes]
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in response.headers["content-security-policy"]
    imports = json.loads(inline[0])["imports"]
    assert imports["/assets/app.js"].startswith("/assets/app.")
    for url in imports.values():
        assert (await client.get(url)).status_code == 200


async def test_hashed_assets_are_immutable_and_plain_names_revalidate(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/")).text
    hashed = re.search(r'href="(/assets/styles\.[0-9a-f]{10}\.css)"', page)
    assert hashed is not None
    response = await client.get(hashed.group(1), headers={"Accept-Encoding": "gzip"})
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.text == (STATIC_DIR / "styles.css").read_text()

    plain = await client.get("/assets/styles.css")
    assert plain.headers["cache-control"] == "no-cache"
    again = await client.get("/assets/styles.css", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304


async def test_unknown_assets_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/assets/nope.js")).status_code == 404
    assert (await client.get("/assets/../pyproject.toml")).status_code == 404


async def test_api_routes_are_untouched(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_the_app_fits_the_first_load_budget() -> None:
    bundle = build_bundle()
    total = 0
    for plain, url in bundle.hashed.items():
        if plain.endswith((".js", ".css")):
            asset = bundle.assets[url]
            total += len(asset.gzipped or asset.body)
    total += len(bundle.page_gzipped)
    assert total < BUDGET_BYTES, f"{total} bytes compressed"


@pytest.mark.parametrize("path", sorted(p.name for p in (STATIC_DIR / "views").glob("*.js")))
def test_views_are_separate_modules_loaded_on_demand(path: str) -> None:
    app = (STATIC_DIR / "app.js").read_text()
    assert f"import('./views/{path}')" in app


def test_no_inline_handlers_or_styles_in_the_page() -> None:
    page = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"\son[a-z]+=", page)
    assert "style=" not in page
    assert Path(STATIC_DIR / "vendor" / "LICENSES.md").exists()
