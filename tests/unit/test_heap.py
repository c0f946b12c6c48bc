"""The collector settings a long-running worker or replay runs under."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from llm_shield.streams.heap import YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_settle_heap_freezes_what_is_loaded_and_collects_the_young_less_often(
    restored_gc: None,
) -> None:
    gc.set_threshold(700, 10, 10)
    loaded = [[index] for index in range(1000)]  # tracked objects alive at start-up
    settle_heap()
    assert gc.get_freeze_count() >= len(loaded)
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    # a full collection no longer walks the frozen objects: they stay out of every generation
    tracked = {id(item) for item in gc.get_objects()}
    assert not any(id(item) in tracked for item in loaded)


def test_settle_heap_collects_cycles_left_by_start_up_before_freezing(restored_gc: None) -> None:
    class Node:
        pass

    first, second = Node(), Node()
    first.other, second.other = second, first  # type: ignore[attr-defined]
    collected: list[int] = []
    gc.callbacks.append(lambda phase, info: collected.append(info.get("collected", 0)))
    try:
        del first, second
        settle_heap()
    finally:
        gc.callbacks.pop()
    assert sum(collected) >= 2  # the cycle was freed, not frozen for good


def test_settle_heap_keeps_a_larger_threshold_set_before(restored_gc: None) -> None:
    gc.set_threshold(YOUNG_THRESHOLD * 5, 20, 20)
    settle_heap()
    assert gc.get_threshold() == (YOUNG_THRESHOLD * 5, 20, 20)
