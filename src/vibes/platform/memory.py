"""Keep the garbage collector's full passes off the request path."""

from __future__ import annotations

import gc

_frozen = False


def freeze_startup_objects() -> None:
    """Move everything alive after startup into the collector's permanent generation.

    Imports and app construction leave a few hundred thousand long-lived objects
    (SQLAlchemy metadata, pydantic and FastAPI internals). Every full collection walks
    all of them, which showed up as 50-70 ms stalls at the 99th percentile of a GET
    under load (p95 ~7 ms). Frozen objects are skipped by collections. Once per process:
    they are the app's own, meant to live as long as it does.
    """
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()
