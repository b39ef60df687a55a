"""Server processes keep the collector off their start-up heap (portal/gc_tuning.py)."""

from __future__ import annotations

import gc

import pytest

from portal.gc_tuning import THRESHOLDS, tune_gc


@pytest.fixture
def restore_gc():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tuning_freezes_the_heap_loaded_so_far_and_raises_the_thresholds(
    restore_gc, monkeypatch
) -> None:
    monkeypatch.delenv("CIVICDESK_GC_TUNING", raising=False)
    assert tune_gc() is True
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == THRESHOLDS


def test_tuning_can_be_switched_off_to_keep_pythons_defaults(restore_gc, monkeypatch) -> None:
    monkeypatch.setenv("CIVICDESK_GC_TUNING", "0")
    before = gc.get_threshold()
    assert tune_gc() is False
    assert gc.get_threshold() == before
