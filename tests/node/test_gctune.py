"""The node's collector settings (node/gctune.py): applied once, and cycles are still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from node import gctune


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_thresholds_and_freeze(restore_gc: None) -> None:
    gctune.tune_for_node()
    assert gc.get_threshold() == (gctune.YOUNG_THRESHOLD, gctune.MIDDLE_EVERY, gctune.OLD_EVERY)
    assert gc.get_freeze_count() > 0  # what start-up built is out of the collector's sight


def test_a_cycle_made_after_tuning_is_still_collected(restore_gc: None) -> None:
    gctune.tune_for_node()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect(0)  # a young collection, as the thresholds trigger: what came after the freeze is not frozen
    assert gone() is None
