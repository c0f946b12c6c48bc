"""Windowed statistics: tumbling windows per tenant and kind (events, decisions, flags per
scanner, score histograms, latency, cache hits), as each worker publishes them to the stats topic
and as ``llm-shield stats`` merges the workers' records of one window.

Each worker counts what it scanned and publishes a window once it has closed; counts and
histogram buckets add up across workers, so percentiles are computed from merged buckets.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from llm_shield.streams.frozen import record

STATS_SCHEMA = "llm-shield.stats/v1"
SCORE_BUCKETS = 10  # score histograms: [0, 0.1), [0.1, 0.2), ... [0.9, 1.0]
# Upper bounds of the latency buckets in milliseconds (the last one is open).
LATENCY_BOUNDS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
NO_TENANT = "-"


def _score_bucket(score: float) -> int:
    return min(SCORE_BUCKETS - 1, max(0, int(score * SCORE_BUCKETS)))


def percentile_ms(buckets: list[int], fraction: float) -> float | None:
    """The upper bound of the bucket holding the ``fraction`` quantile (None without events);
    the open last bucket reports its lower bound."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(buckets):
        seen += count
        if seen >= rank and count:
            return float(LATENCY_BOUNDS_MS[min(index, len(LATENCY_BOUNDS_MS) - 1)])
    return float(LATENCY_BOUNDS_MS[-1])


@dataclass
class WindowCounts:
    """One window of one tenant and kind."""

    events: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)
    histograms: dict[str, list[int]] = field(default_factory=dict)
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))
    cache_hits: int = 0
    escalations: int = 0

    def add_verdict(self, verdict: Any) -> None:
        """Count one ``Verdict`` (attributes, not its JSON: this runs for every event)."""
        self.events += 1
        decision = verdict.decision
        self.decisions[decision] = self.decisions.get(decision, 0) + 1
        for name, result in verdict.scanners.items():
            if result.get("flagged"):
                self.flagged[name] = self.flagged.get(name, 0) + 1
            histogram = self.histograms.get(name)
            if histogram is None:
                histogram = self.histograms[name] = [0] * SCORE_BUCKETS
            risk = result.get("score", 0.0)
            if name == "sentiment":
                risk = (result.get("scores") or {}).get("negative", 0.0)
            histogram[_score_bucket(float(risk))] += 1
        self.latency_buckets[bisect.bisect_left(LATENCY_BOUNDS_MS, verdict.latency_ms)] += 1
        if verdict.cache_hit:
            self.cache_hits += 1
        if verdict.conversation is not None and verdict.conversation.get("escalated"):
            self.escalations += 1

    def merge(self, other: WindowCounts) -> None:
        self.events += other.events
        self.cache_hits += other.cache_hits
        self.escalations += other.escalations
        for mine, theirs in ((self.decisions, other.decisions), (self.flagged, other.flagged)):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count
        for name, histogram in other.histograms.items():
            own = self.histograms.setdefault(name, [0] * SCORE_BUCKETS)
            for index, count in enumerate(histogram):
                own[index] += count
        for index, count in enumerate(other.latency_buckets):
            self.latency_buckets[index] += count

    def latency_summary(self) -> dict[str, float | None]:
        return {
            "p50": percentile_ms(self.latency_buckets, 0.50),
            "p95": percentile_ms(self.latency_buckets, 0.95),
            "p99": percentile_ms(self.latency_buckets, 0.99),
        }


@record
class WindowKey:
    start: float  # unix seconds, a multiple of the window length
    tenant: str
    kind: str


def window_record(key: WindowKey, seconds: float, counts: WindowCounts, worker: str) -> bytes:
    started = datetime.fromtimestamp(key.start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return orjson.dumps(
        {
            "schema": STATS_SCHEMA,
            "window_start": started,
            "window_start_unix": key.start,
            "window_seconds": seconds,
            "tenant": key.tenant,
            "kind": key.kind,
            "worker": worker,
            "events": counts.events,
            "decisions": counts.decisions,
            "flagged": counts.flagged,
            "score_histograms": counts.histograms,
            "latency_ms": counts.latency_summary(),
            "latency_bounds_ms": list(LATENCY_BOUNDS_MS),
            "latency_buckets": counts.latency_buckets,
            "cache_hits": counts.cache_hits,
            "escalations": counts.escalations,
        }
    )


def parse_window_record(value: bytes) -> tuple[WindowKey, WindowCounts, str] | None:
    """A stats record back as key, counts and worker; None for anything else on the topic."""
    try:
        data = orjson.loads(value)
        if data.get("schema") != STATS_SCHEMA:
            return None
        key = WindowKey(float(data["window_start_unix"]), str(data["tenant"]), str(data["kind"]))
        counts = WindowCounts(
            events=int(data["events"]),
            decisions=dict(data["decisions"]),
            flagged=dict(data["flagged"]),
            histograms={k: list(v) for k, v in data["score_histograms"].items()},
            latency_buckets=list(data["latency_buckets"]),
            cache_hits=int(data["cache_hits"]),
            escalations=int(data.get("escalations", 0)),
        )
        return key, counts, str(data.get("worker", ""))
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None


class WindowedStats:
    """The open windows of one worker. ``add`` runs in the pipeline's thread, ``closed`` in the
    event loop's timer; a lock keeps them apart."""

    def __init__(self, window_seconds: float, clock: Any = None) -> None:
        import time

        self.window_seconds = window_seconds
        self.clock = clock or time.time
        self._open: dict[WindowKey, WindowCounts] = {}
        self._lock = threading.Lock()

    def add(self, verdicts: Iterable[Any], at: float | None = None) -> None:
        moment = self.clock() if at is None else at
        start = moment - moment % self.window_seconds
        with self._lock:
            for verdict in verdicts:
                key = WindowKey(start, verdict.tenant or NO_TENANT, verdict.kind)
                counts = self._open.get(key)
                if counts is None:
                    counts = self._open[key] = WindowCounts()
                counts.add_verdict(verdict)

    def closed(self, now: float | None = None) -> list[tuple[WindowKey, WindowCounts]]:
        """Hand over (and forget) every window that has ended by ``now``."""
        moment = self.clock() if now is None else now
        with self._lock:
            done = [k for k in self._open if k.start + self.window_seconds <= moment]
            return [(key, self._open.pop(key)) for key in sorted(done, key=_order)]

    def flush(self) -> list[tuple[WindowKey, WindowCounts]]:
        """Every window, closed or not (a worker that stops publishes what it counted)."""
        with self._lock:
            done, self._open = self._open, {}
        return sorted(done.items(), key=lambda item: _order(item[0]))


def _order(key: WindowKey) -> tuple[float, str, str]:
    return (key.start, key.tenant, key.kind)
