"""The import graph between the packages of `src/vibes` runs downward only.

Layers (ARCHITECTURE.md), lowest first: the core (`config`, `errors`, `db`, `platform`);
recording (the outbox and change log every write appends to); the domains; delivery
(`events`: the dispatcher and the event/webhook routes, which read what was recorded);
the assembly (`app`, `cli`, `runtime`, `models`, `migrations`, `web`). A package imports
only from its own layer or below, and the graph has no cycle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import vibes

ROOT = Path(vibes.__file__).parent
CORE = {"vibes", "config", "errors", "db", "platform"}
RECORDING = {"recording"}
DOMAINS = {
    "accounts",
    "vault",
    "journals",
    "tags",
    "reminders",
    "search",
    "sync",
    "analytics",
    "portability",
}
DELIVERY = {"events"}
ASSEMBLY = {"app", "cli", "runtime", "models", "migrations", "web", "backup", "__main__"}
LAYERS = [CORE, RECORDING, DOMAINS, DELIVERY, ASSEMBLY]


def _package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "vibes":
        return None
    return parts[1] if len(parts) > 1 else "vibes"


def _graph() -> dict[str, dict[str, set[str]]]:
    """{package: {imported package: {"module -> imported module", ...}}}"""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in ROOT.rglob("*.py"):
        module = ".".join(("vibes", *path.relative_to(ROOT).with_suffix("").parts))
        module = module.removesuffix(".__init__")
        source = _package(module)
        assert source is not None
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            else:
                continue
            for target in targets:
                package = _package(target)
                if package is not None and package != source:
                    graph[source][package].add(f"{module} -> {target}")
    return graph


def _layer(package: str) -> int:
    for index, members in enumerate(LAYERS):
        if package in members:
            return index
    raise AssertionError(f"package {package!r} has no layer: add it to tests/test_layers.py")


def test_every_package_has_a_layer() -> None:
    for package in _graph():
        _layer(package)
    for path in ROOT.iterdir():
        if path.is_dir() and (path / "__init__.py").exists():
            _layer(path.name)


def test_packages_import_only_their_own_layer_or_below() -> None:
    upward = [
        sorted(imports)[0]
        for source, targets in _graph().items()
        for target, imports in targets.items()
        if _layer(target) > _layer(source)
    ]
    assert upward == []


@pytest.mark.parametrize("package", sorted(CORE - {"vibes"}))
def test_the_core_imports_no_domain(package: str) -> None:
    above = {
        target: sorted(imports)
        for target, imports in _graph()[package].items()
        if target not in CORE
    }
    assert above == {}


def test_the_package_graph_has_no_cycle() -> None:
    graph = {source: set(targets) for source, targets in _graph().items()}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycles.append([*path[path.index(node) :], node])
            return
        for target in sorted(graph.get(node, ())):
            visit(target, [*path, node])

    for start in sorted(graph):
        visit(start, [])
    assert cycles == []


def test_the_terminal_client_talks_http_only() -> None:
    """`vibes.cli.client` imports nothing of the server (no domain, no database, no
    settings): it runs on a laptop with only the API's URL, and starts fast."""
    client = ROOT / "cli" / "client"
    server_imports = []
    for path in client.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            else:
                continue
            server_imports += [
                f"{path.name} -> {target}"
                for target in targets
                if target.split(".")[0] == "vibes" and not target.startswith("vibes.cli.client")
            ]
    assert server_imports == []
