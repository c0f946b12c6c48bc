"""Offline replay: the same pipeline over a JSONL log, no broker, for audits and back-testing.

Lines are cut into batches of ``batching.max_batch_size`` and fed to ``Pipeline.process`` exactly as
the worker feeds Kafka records; a line's number stands in for its offset in dead letters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Any

from llm_shield.streams.events import DeadLetter, RawRecord
from llm_shield.streams.pipeline import Pipeline

Writer = Callable[[bytes], Any]


@dataclass
class ReplaySummary:
    lines: int = 0
    verdicts: int = 0
    dead_letters: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    flagged_by_scanner: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    events_per_s: float = 0.0
    mean_batch_size: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0
    cache_hit_ratio: float = 0.0
    model_calls: int = 0
    model_rows: int = 0
    fallbacks: int = 0
    prefilter_settled: int = 0
    models: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _batches(lines: Iterable[bytes], size: int) -> Iterator[list[tuple[int, bytes]]]:
    numbered = (
        (number, line.rstrip(b"\r\n")) for number, line in enumerate(lines, start=1) if line.strip()
    )
    while batch := list(islice(numbered, size)):
        yield batch


def replay_lines(
    pipeline: Pipeline,
    lines: Iterable[bytes],
    *,
    write_verdict: Writer,
    write_dead_letter: Writer | None = None,
    source: str = "replay",
    default_kind: str = "prompt",
    on_progress: Callable[[int], Any] | None = None,
) -> ReplaySummary:
    """Run every non-blank line through the pipeline; each verdict is written as one JSON line."""
    started = time.perf_counter()
    summary = ReplaySummary()
    for batch in _batches(lines, pipeline.settings.batching.max_batch_size):
        records = [
            RawRecord(value=line, source_topic=source, default_kind=default_kind, offset=number)
            for number, line in batch
        ]
        for outcome in pipeline.process(records):
            if isinstance(outcome, DeadLetter):
                if write_dead_letter is not None:
                    write_dead_letter(outcome.to_json() + b"\n")
            else:
                write_verdict(outcome.to_json() + b"\n")
        summary.lines += len(batch)
        if on_progress is not None:
            on_progress(len(batch))
    stats = pipeline.stats
    summary.verdicts = stats.events
    summary.dead_letters = stats.dead_letters
    summary.decisions = dict(stats.decisions)
    summary.dead_letter_reasons = dict(stats.dead_letter_reasons)
    summary.flagged_by_scanner = dict(stats.flagged_by_scanner)
    scanning = pipeline.scanners.stats
    summary.cache_hits = scanning.cache_hits
    summary.cache_misses = scanning.cache_misses
    lookups = scanning.cache_hits + scanning.cache_misses
    summary.cache_hit_ratio = round(scanning.cache_hits / lookups, 4) if lookups else 0.0
    summary.model_calls = scanning.model_calls
    summary.model_rows = scanning.model_rows
    summary.fallbacks = scanning.fallbacks
    summary.prefilter_settled = scanning.prefilter_settled
    summary.models = pipeline.scanners.model_refs()
    summary.mean_batch_size = round(summary.lines / stats.batches, 1) if stats.batches else 0.0
    summary.seconds = round(time.perf_counter() - started, 3)
    summary.events_per_s = round(summary.lines / summary.seconds, 1) if summary.seconds else 0.0
    return summary
