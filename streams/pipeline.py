"""The one pipeline: a batch of raw records in, one verdict or dead letter per record out.

decode and validate -> result cache -> heuristic prefilter -> batched ONNX classifiers (the
``ScannerSet``) -> policy -> verdict. Plain synchronous Python with no
I/O, so the Faust agent, ``replay`` and ``scan`` are thin adapters and tests need no broker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from llm_shield.streams.config import Settings
from llm_shield.streams.events import DeadLetter, Event, RawRecord, decode_record
from llm_shield.streams.policy import DECISIONS, decide
from llm_shield.streams.scanner import Scanner, ScanResult
from llm_shield.streams.scanner_set import ScannerSet
from llm_shield.streams.verdict import Verdict, utc_timestamp

Outcome = Verdict | DeadLetter


@dataclass
class PipelineStats:
    """Running counts that a summary or a metrics endpoint reads."""

    events: int = 0
    batches: int = 0
    dead_letters: int = 0
    decisions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DECISIONS, 0))
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    flagged_by_scanner: dict[str, int] = field(default_factory=dict)


def _all_cached(results: Iterable[ScanResult]) -> bool:
    scored = [r.method for r in results if r.method in ("ml", "cache")]
    return bool(scored) and all(method == "cache" for method in scored)


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        scanners: Mapping[str, Scanner] | None = None,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.settings = settings
        self.scanners = ScannerSet(settings, scanners)
        self.clock = clock
        self.stats = PipelineStats()

    def decode(self, record: RawRecord) -> Event | DeadLetter:
        return decode_record(
            record,
            max_event_bytes=self.settings.input.max_event_bytes,
            deadletter_raw_bytes=self.settings.input.deadletter_raw_bytes,
            redact=self.settings.input.redact,
        )

    def process(self, records: Sequence[RawRecord]) -> list[Outcome]:
        """Decode every record, scan the valid ones as one batch, keep the input order."""
        started = self.clock()
        decoded = [self.decode(record) for record in records]
        events = [item for item in decoded if isinstance(item, Event)]
        verdicts = iter(self._scan(events, started))
        outcomes: list[Outcome] = []
        for item in decoded:
            if isinstance(item, Event):
                outcomes.append(next(verdicts))
            else:
                outcomes.append(item)
                self._count_dead_letter(item)
        self.stats.batches += 1
        return outcomes

    def scan_events(self, events: Sequence[Event]) -> list[Verdict]:
        """Scan already-valid events (``scan`` builds one by hand)."""
        return self._scan(events, self.clock())

    def _count_dead_letter(self, dead: DeadLetter) -> None:
        self.stats.dead_letters += 1
        reasons = self.stats.dead_letter_reasons
        reasons[dead.reason] = reasons.get(dead.reason, 0) + 1

    def _scan(self, events: Sequence[Event], started: float) -> list[Verdict]:
        if not events:
            return []
        texts = [event.text for event in events]
        per_scanner = self.scanners.scan(texts, [event.kind for event in events])
        latency_ms = round((self.clock() - started) * 1000.0, 2)
        processed_at = utc_timestamp()
        verdicts = []
        for index, event in enumerate(events):
            results = {name: per_scanner[name][index] for name in per_scanner}
            verdicts.append(self._verdict(event, results, latency_ms, processed_at))
        return verdicts

    def _verdict(
        self,
        event: Event,
        results: Mapping[str, ScanResult],
        latency_ms: float,
        processed_at: str,
    ) -> Verdict:
        decision = decide(results, self.settings.scanners)
        scanners = {
            name: result.to_dict(
                threshold=self.settings.scanners.get(name).threshold,
                flagged=decision.flagged[name],
            )
            for name, result in results.items()
        }
        self.stats.events += 1
        self.stats.decisions[decision.decision] += 1
        for name, hit in decision.flagged.items():
            if hit:
                self.stats.flagged_by_scanner[name] = self.stats.flagged_by_scanner.get(name, 0) + 1
        return Verdict(
            id=event.id,
            kind=event.kind,
            decision=decision.decision,
            risk_score=decision.risk_score,
            scanners=scanners,
            cache_hit=_all_cached(results.values()),
            latency_ms=latency_ms,
            processed_at=processed_at,
            conversation_id=event.conversation_id,
            tenant=event.tenant,
            metadata=event.metadata,
        )
