"""The result cache: model outputs on disk (diskcache), so a text seen before costs nothing.

Keyed by (model ref = id, version, variant) and the sha256 of the normalised text, so a new model
version never serves old scores. It survives restarts; a corrupt or unwritable cache directory is
rebuilt once and otherwise bypassed with a warning, never fatal.

Values are JSON bytes, never pickles: diskcache unpickles whatever a row says is a pickle, so a
file planted in the cache folder would otherwise run code in the worker. ``JsonOnlyDisk`` refuses
to store or read a pickle, and the folder is created owner-only.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import sqlite3
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache
import orjson

from llm_shield.registry.home import make_private_dir

log = logging.getLogger(__name__)


class PickledEntryRefused(OSError):
    """diskcache reads an OSError from ``fetch`` as "no such entry": a planted pickle is a miss."""


class JsonOnlyDisk(diskcache.Disk):
    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> Any:
        if not isinstance(value, bytes):
            raise TypeError("the result cache stores bytes only (JSON), never pickles")
        return super().store(value, read, key=key)

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if mode == diskcache.core.MODE_PICKLE:
            raise PickledEntryRefused("a pickled cache entry is never loaded")
        return super().fetch(mode, filename, value, read)


def text_key(model_ref: str, text: str) -> str:
    normalized = " ".join(unicodedata.normalize("NFKC", text).split())
    return f"{model_ref}|{hashlib.sha256(normalized.encode('utf-8', 'surrogatepass')).hexdigest()}"


def exact_key(namespace: str, text: str) -> str:
    """A key for results that depend on the exact text (the heuristics read whitespace)."""
    return f"{namespace}|{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()}"


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    errors: int = 0
    writes: int = 0
    entries_at_open: int = 0

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class ResultCache:
    def __init__(
        self, directory: Path, *, ttl_seconds: float, size_mb: int, memory_entries: int = 50_000
    ) -> None:
        self.directory = directory
        # The most recently used entries, decoded into the callers' objects, in front of the
        # disk: about 50 MB at most (a model entry with the scan results built from it about
        # 2 KB, a pattern result 0.35 KB).
        self.memory_entries = memory_entries
        self._recent: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self.ttl_seconds = ttl_seconds
        self.size_limit = size_mb * 1024 * 1024
        self.stats = CacheStats()
        self._cache: diskcache.Cache | None = None
        self._lock = threading.Lock()
        self._open()

    def _open(self) -> None:
        for attempt in (1, 2):
            try:
                make_private_dir(self.directory)
                self._cache = diskcache.Cache(
                    str(self.directory),
                    disk=JsonOnlyDisk,
                    size_limit=self.size_limit,
                    eviction_policy="least-recently-stored",
                )
                return
            except (OSError, sqlite3.DatabaseError) as exc:
                if attempt == 1 and isinstance(exc, sqlite3.DatabaseError):
                    log.warning(
                        "result cache at %s is corrupt (%s); rebuilding it", self.directory, exc
                    )
                    shutil.rmtree(self.directory, ignore_errors=True)
                    continue
                log.warning(
                    "result cache at %s unusable (%s); running without it", self.directory, exc
                )
                self._cache = None
                return

    @property
    def enabled(self) -> bool:
        return self._cache is not None

    def entries(self) -> int:
        if self._cache is None:
            return 0
        try:
            return len(self._cache)
        except (OSError, sqlite3.Error):
            return 0

    def size_bytes(self) -> int:
        if self._cache is None:
            return 0
        try:
            return int(self._cache.volume())
        except (OSError, sqlite3.Error):
            return 0

    def dropped(self) -> int:
        """Entries gone since open, by size-limit eviction or TTL expiry (diskcache does not say
        which): entries at open + writes - entries now (overwrites of a key count as drops)."""
        if self._cache is None:
            return 0
        return max(0, self.stats.entries_at_open + self.stats.writes - self.entries())

    def _remember(self, key: str, value: Any) -> None:
        if self.memory_entries <= 0:
            return
        self._recent[key] = (time.monotonic() + self.ttl_seconds, value)
        self._recent.move_to_end(key)
        while len(self._recent) > self.memory_entries:
            self._recent.popitem(last=False)

    def _recall(self, key: str) -> Any | None:
        found = self._recent.get(key)
        if found is None:
            return None
        if found[0] < time.monotonic():
            del self._recent[key]
            return None
        self._recent.move_to_end(key)
        return found[1]

    def get_many(
        self, keys: Sequence[str], decode: Callable[[Any], Any] | None = None
    ) -> list[Any | None]:
        """Recently used entries come from memory (no sqlite query, no JSON decode); the rest
        from disk, and those are remembered. ``decode`` turns a stored value into the caller's
        own object (None: an entry of another shape, a miss); memory keeps that object, so a
        recently used entry is not rebuilt either. A namespace is always read with one
        ``decode``."""
        if self._cache is None:
            self.stats.misses += len(keys)
            return [None] * len(keys)
        with self._lock:
            decoded = [self._recall(key) for key in keys]
            try:
                for index, key in enumerate(keys):
                    if decoded[index] is None:
                        value = _decode(self._cache.get(key))
                        if value is not None and decode is not None:
                            value = decode(value)
                        if value is not None:
                            decoded[index] = value
                            self._remember(key, value)
            except (OSError, sqlite3.Error) as exc:
                self._fail(exc)
                self.stats.misses += len(keys)
                return [None] * len(keys)
        hits = sum(v is not None for v in decoded)
        self.stats.hits += hits
        self.stats.misses += len(keys) - hits
        return decoded

    def set_many(
        self, items: Sequence[tuple[str, Any]], remembered: Sequence[Any] | None = None
    ) -> None:
        """``remembered``: each value as ``get_many``'s ``decode`` gives it, kept in memory in
        place of the stored value."""
        if self._cache is None or not items:
            return
        objects = remembered if remembered is not None else [value for _key, value in items]
        try:
            with self._lock, self._cache.transact():
                for (key, value), kept in zip(items, objects, strict=True):
                    self._cache.set(key, orjson.dumps(value), expire=self.ttl_seconds)
                    self._remember(key, kept)
            self.stats.writes += len(items)
        except (OSError, sqlite3.Error) as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        self.stats.errors += 1
        log.warning("result cache error (%s); bypassing the cache from now on", exc)
        self.close()

    def close(self) -> None:
        if self._cache is not None:
            try:
                self._cache.close()
            except (OSError, sqlite3.Error):
                pass
            self._cache = None
        self._recent.clear()


def _decode(value: Any) -> Any:
    if not isinstance(value, bytes):
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
