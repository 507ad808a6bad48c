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


def test_benchmark_thresholds_from_the_environment(restore_gc: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gctune.ENV_THRESHOLDS, "123456, 7, 89")
    gctune.tune_for_node()
    assert gc.get_threshold() == (123456, 7, 89)
    monkeypatch.setenv(gctune.ENV_THRESHOLDS, "")
    assert gctune.thresholds() == (gctune.YOUNG_THRESHOLD, gctune.MIDDLE_EVERY, gctune.OLD_EVERY)


@pytest.mark.parametrize("raw", ["200000", "1,2,x", "0,20,100", "-5,1,1", "1,2,3,4"])
def test_a_bad_benchmark_setting_is_refused_before_the_collector_is_touched(
        restore_gc: None, monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    monkeypatch.setenv(gctune.ENV_THRESHOLDS, raw)
    with pytest.raises(ValueError, match=gctune.ENV_THRESHOLDS):
        gctune.tune_for_node()
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, frozen)
