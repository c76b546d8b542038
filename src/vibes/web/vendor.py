"""Refresh the web app's vendored libraries from the npm registry, at pinned versions.

    python -m vibes.web.vendor            # download, verify and write every file
    python -m vibes.web.vendor --check    # only verify that the committed files match

Each package's tarball is checked against the registry's published SHA-512 integrity
before anything is extracted; only the listed files (and the licence) are written.
`NPM_CONFIG_REGISTRY` chooses another registry (a mirror). No Node toolchain is needed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx

WEB_DIR = Path(__file__).parent
STATIC_VENDOR = WEB_DIR / "static" / "vendor"
# axe-core checks accessibility in the browser tests; the app never loads it.
TEST_VENDOR = WEB_DIR.parents[2] / "tests" / "web" / "vendor"
LICENSES = STATIC_VENDOR / "LICENSES.md"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    license: str
    files: tuple[tuple[str, Path], ...]  # (path inside the tarball, destination)


PACKAGES = (
    Package(
        "htm",
        "3.1.1",
        "Apache-2.0 (htm); MIT (the Preact it bundles)",
        (("package/preact/standalone.module.js", STATIC_VENDOR / "preact-htm.js"),),
    ),
    Package(
        "marked",
        "18.2.1",
        "MIT",
        (("package/lib/marked.esm.js", STATIC_VENDOR / "marked.js"),),
    ),
    Package(
        "dompurify",
        "3.5.0",
        "MPL-2.0 OR Apache-2.0 (used under Apache-2.0)",
        (("package/dist/purify.es.mjs", STATIC_VENDOR / "purify.js"),),
    ),
    Package(
        "axe-core",
        "4.14.1",
        "MPL-2.0 (tests only, not served)",
        (("package/axe.min.js", TEST_VENDOR / "axe.min.js"),),
    ),
)


def _registry() -> str:
    return os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org").rstrip("/")


def _fetch(client: httpx.Client, package: Package) -> tarfile.TarFile:
    meta = client.get(f"{_registry()}/{package.name}/{package.version}")
    meta.raise_for_status()
    dist = meta.json()["dist"]
    tarball = client.get(dist["tarball"])
    tarball.raise_for_status()
    algorithm, _, expected = dist["integrity"].partition("-")
    if algorithm != "sha512":
        raise SystemExit(f"{package.name}: unexpected integrity algorithm {algorithm}")
    actual = base64.b64encode(hashlib.sha512(tarball.content).digest()).decode()
    if actual != expected:
        raise SystemExit(f"{package.name}@{package.version}: integrity mismatch")
    return tarfile.open(fileobj=io.BytesIO(tarball.content), mode="r:gz")


def _member(archive: tarfile.TarFile, path: str) -> bytes:
    extracted = archive.extractfile(path)
    if extracted is None:
        raise SystemExit(f"{path} is not a file in the tarball")
    return extracted.read()


def _licence_text(archive: tarfile.TarFile) -> str:
    names = sorted(
        name
        for name in archive.getnames()
        if name.count("/") == 1 and name.split("/")[1].upper().startswith(("LICENSE", "LICENCE"))
    )
    if not names:
        raise SystemExit("no licence file in the tarball")
    return _member(archive, names[0]).decode().strip()


def _licence_note(texts: dict[str, str]) -> str:
    lines = [
        "# Vendored libraries",
        "",
        "Written by `python -m vibes.web.vendor` from the npm registry at these pinned",
        "versions (tarball integrity checked). Their licences follow.",
        "",
        "| package | version | licence | files |",
        "|---|---|---|---|",
    ]
    for package in PACKAGES:
        names = ", ".join(dest.name for _, dest in package.files)
        lines.append(f"| {package.name} | {package.version} | {package.license} | {names} |")
    for package in PACKAGES:
        lines += ["", f"## {package.name} {package.version}", "", "```", texts[package.name]]
        lines += ["```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale: list[str] = []
    texts: dict[str, str] = {}
    with httpx.Client(timeout=60, follow_redirects=True) as client:
        for package in PACKAGES:
            with _fetch(client, package) as archive:
                texts[package.name] = _licence_text(archive)
                for path, dest in package.files:
                    body = _member(archive, path)
                    if check:
                        if not dest.exists() or dest.read_bytes() != body:
                            stale.append(str(dest))
                        continue
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(body)
    note = _licence_note(texts)
    if check:
        if not LICENSES.exists() or LICENSES.read_text() != note:
            stale.append(str(LICENSES))
        for name in stale:
            sys.stderr.write(f"out of date: {name}\n")
        return 1 if stale else 0
    LICENSES.write_text(note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
