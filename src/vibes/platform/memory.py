"""Keep the garbage collector's full passes off the request path."""

from __future__ import annotations

import gc

_frozen = False
# Collections of the middle generation between two full ones (CPython's default: 10).
FULL_COLLECTION_EVERY = 100


def freeze_startup_objects() -> None:
    """Move everything alive after startup into the collector's permanent generation.

    Imports and app construction leave a few hundred thousand long-lived objects
    (SQLAlchemy metadata, pydantic and FastAPI internals). Every full collection walks
    all of them, which showed up as 50-70 ms stalls at the 99th percentile of a GET
    under load (p95 ~7 ms). Frozen objects are skipped by collections. Once per process:
    they are the app's own, meant to live as long as it does.

    Full collections are made ten times rarer too. CPython runs one once the objects
    promoted to the oldest generation since the last exceed a quarter of those that
    survived it; with the startup objects frozen, those are few, so the rule fires after
    a few thousand promotions. A 1000-entry batch keeps ~100,000 objects alive until its
    answer (rows, ids, validated items): many are promoted, and a full collection, walking
    every batch in flight, came every two or three batches, 30-40 ms of CPU each and two
    thirds of the collector's time under the batch load (bench/README.md, "Batch"). The
    cost: cyclic garbage that reached the oldest generation waits longer to be freed
    (acyclic objects are freed by their reference counts, whatever their generation).
    """
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
