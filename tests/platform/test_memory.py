"""The collector's settings after startup (`platform/memory`)."""

import gc

from vibes.platform.memory import FULL_COLLECTION_EVERY, freeze_startup_objects


def test_startup_freezes_and_makes_full_collections_rarer() -> None:
    freeze_startup_objects()
    freeze_startup_objects()  # once per process: a second call changes nothing
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[2] == FULL_COLLECTION_EVERY
