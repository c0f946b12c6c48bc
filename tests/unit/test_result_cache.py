"""The result cache: it survives reopening; a corrupt one is rebuilt, an unusable one bypassed."""

import logging
from pathlib import Path

from llm_shield.models.cache import ResultCache, text_key


def test_values_survive_a_restart_and_count_hits(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "c", ttl_seconds=60, size_mb=8)
    key = text_key("m@1:int8", "Hello   world")
    assert key == text_key("m@1:int8", "Hello world")  # whitespace-normalised
    assert key != text_key("m@2:int8", "Hello world")  # another model version never shares
    cache.set_many([(key, {"p": {"sentiment": [0.1, 0.2, 0.7]}, "w": 1})])
    cache.close()
    reopened = ResultCache(tmp_path / "c", ttl_seconds=60, size_mb=8)
    assert reopened.get_many([key, "missing"]) == [
        {"p": {"sentiment": [0.1, 0.2, 0.7]}, "w": 1},
        None,
    ]
    assert (reopened.stats.hits, reopened.stats.misses) == (1, 1)
    assert reopened.entries() == 1 and reopened.size_bytes() > 0


def test_corrupt_cache_directory_is_rebuilt(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "cache.db").write_bytes(b"this is not a sqlite database" * 100)
    cache = ResultCache(folder, ttl_seconds=60, size_mb=8)
    assert cache.enabled
    cache.set_many([("k", {"p": {}, "w": 1})])
    assert cache.get_many(["k"]) == [{"p": {}, "w": 1}]
    assert "rebuilding" in caplog.text


def test_cache_in_a_path_that_is_a_file_is_bypassed(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = ResultCache(blocker / "c", ttl_seconds=60, size_mb=8)
    assert not cache.enabled
    cache.set_many([("k", {"p": {}, "w": 1})])  # no exception: bypassed
    assert cache.get_many(["k"]) == [None]
    assert "running without it" in caplog.text


def test_recent_entries_are_served_from_memory_and_expire(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "c", ttl_seconds=60, size_mb=8, memory_entries=2)
    cache.set_many([("a", {"v": 1}), ("b", {"v": 2}), ("c", {"v": 3})])
    assert list(cache._recent) == ["b", "c"]  # the bound holds: the oldest went first
    cache._cache.clear()  # the disk copy is gone; memory still answers for the recent ones
    assert cache.get_many(["a", "b", "c"]) == [None, {"v": 2}, {"v": 3}]
    cache._recent["c"] = (0.0, {"v": 3})  # an entry past its TTL is not served from memory
    assert cache.get_many(["c"]) == [None]


def test_memory_front_can_be_off(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "c", ttl_seconds=60, size_mb=8, memory_entries=0)
    cache.set_many([("a", {"v": 1})])
    assert not cache._recent
    assert cache.get_many(["a"]) == [{"v": 1}]


def test_decoded_objects_are_kept_in_memory_and_built_once(tmp_path: Path) -> None:
    built: list[dict] = []

    def decode(value: dict) -> tuple | None:
        built.append(value)
        return ("scores", value["v"]) if "v" in value else None

    cache = ResultCache(tmp_path / "c", ttl_seconds=60, size_mb=8)
    cache.set_many([("a", {"v": 1}), ("old", {"x": 0})], remembered=[("scores", 1), None])
    cache.close()
    reopened = ResultCache(tmp_path / "c", ttl_seconds=60, size_mb=8)
    first = reopened.get_many(["a", "old"], decode)
    assert first == [("scores", 1), None]  # an entry of another shape is a miss
    assert (reopened.stats.hits, reopened.stats.misses) == (1, 1)
    second = reopened.get_many(["a"], decode)
    assert second[0] is first[0]  # from memory, not decoded again
    assert len(built) == 2


def test_remembered_objects_are_what_a_read_returns(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "c", ttl_seconds=60, size_mb=8)
    kept = ("scores", 2)
    cache.set_many([("a", {"v": 2})], remembered=[kept])
    assert cache.get_many(["a"], lambda value: ("scores", value["v"]))[0] is kept
    cache._recent.clear()  # from disk, the stored JSON decoded
    assert cache.get_many(["a"], lambda value: ("scores", value["v"])) == [("scores", 2)]
