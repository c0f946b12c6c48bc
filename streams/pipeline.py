"""The one pipeline: a batch of raw records in, one verdict or dead letter per record out.

decode and validate -> result cache -> heuristic prefilter -> batched ONNX classifiers (the
``ScannerSet``) -> policy (the tenant's, where it has one) -> conversation -> verdict. Plain
synchronous Python with no I/O, so the Faust agent, ``replay`` and ``scan`` are thin adapters and
tests need no broker.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from llm_shield.streams.config import ScannersSettings, Settings
from llm_shield.streams.conversation import (
    DOCUMENT,
    ConversationBook,
    ConversationState,
    Turn,
    advance,
    joined_prompts,
    remembered_prompt_risk,
)
from llm_shield.streams.events import DeadLetter, Event, RawRecord, decode_record
from llm_shield.streams.frozen import evolve
from llm_shield.streams.policy import DECISIONS, Decision, decide
from llm_shield.streams.scanner import Scanner, ScanResult
from llm_shield.streams.scanner_set import ScannerSet
from llm_shield.streams.stats import WindowedStats
from llm_shield.streams.tenant_policy import PolicyBook
from llm_shield.streams.verdict import Verdict, utc_timestamp

Outcome = Verdict | DeadLetter


# The parts of a scan timed in PipelineStats.seconds: the whole, then what context adds to it.
SECONDS_PARTS = ("scan", "policies", "joined", "conversations", "stats")


@dataclass
class PipelineStats:
    """Running counts that a summary or a metrics endpoint reads."""

    events: int = 0
    batches: int = 0
    dead_letters: int = 0
    decisions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DECISIONS, 0))
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    flagged_by_scanner: dict[str, int] = field(default_factory=dict)
    escalations: int = 0
    # Prompts of conversations scored joined with their last prompts, and those that did not
    # need it (blocked already, or no risk in the turn or the turns remembered).
    joined_scored: int = 0
    joined_skipped: int = 0
    # Seconds of the pipeline's thread: ``scan`` is every batch's whole scan, the others the
    # parts of it that the stream's context adds (what context costs on this traffic, read
    # against the rest of ``scan``; the bench's timed comparisons scatter more than that cost).
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SECONDS_PARTS, 0.0))


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
        policies: PolicyBook | None = None,
        conversations: ConversationBook | None = None,
        windows: WindowedStats | None = None,
    ) -> None:
        """``policies`` (tenant overrides), ``conversations`` (state per conversation_id) and
        ``windows`` (windowed stats) are the stream's context; each is optional."""
        self.settings = settings
        self.scanners = ScannerSet(settings, scanners)
        self.clock = clock
        self.stats = PipelineStats()
        self.policies = policies
        self.conversations = conversations
        self.windows = windows

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
        partitions = [
            record.partition
            for record, item in zip(records, decoded, strict=True)
            if isinstance(item, Event)
        ]
        verdicts = iter(self._scan(events, started, partitions))
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

    def _scan(
        self,
        events: Sequence[Event],
        started: float,
        partitions: Sequence[int | None] | None = None,
    ) -> list[Verdict]:
        """Scan as few batches as there are policies in the batch (one, usually); then the
        prompts of conversations that need it are scored joined with their last prompts."""
        if not events:
            return []
        seconds = self.stats.seconds
        began = time.perf_counter()
        policies = [self._policy(event) for event in events]
        if self.policies is not None:
            seconds["policies"] += time.perf_counter() - began
        groups: dict[int, list[int]] = {}
        for index, (scanners, _version) in enumerate(policies):
            groups.setdefault(id(scanners), []).append(index)
        # the kind each text is read as, once: a long prompt is read as a document, and a
        # conversation's prompt read so is not joined with the prompts around it
        read = self.scanners.read_as([e.text for e in events], [e.kind for e in events])
        results: list[dict[str, ScanResult]] = [{} for _ in events]
        for indices in groups.values():
            scanners = policies[indices[0]][0]
            texts = [events[i].text for i in indices]
            kinds = [read[i] for i in indices]
            per_scanner = self.scanners.scan(texts, kinds, scanners, documents=False)
            for position, i in enumerate(indices):
                results[i] = {name: per_scanner[name][position] for name in per_scanner}
        decisions = [decide(results[i], policies[i][0]) for i in range(len(events))]
        states: dict[str, ConversationState | None] = {}  # each conversation read once a batch
        joined: dict[int, ScanResult] = {}
        if self.conversations is not None:
            mark = time.perf_counter()
            joined = self._score_joined(events, decisions, policies, states, read)
            seconds["joined"] += time.perf_counter() - mark
        latency_ms = round((self.clock() - started) * 1000.0, 2)
        processed_at = utc_timestamp()
        now = time.time()
        verdicts = []
        for index, event in enumerate(events):
            scanners, version = policies[index]
            verdict = self._verdict(
                event, results[index], decisions[index], latency_ms, processed_at, scanners, version
            )
            if self.conversations is not None and event.conversation_id is not None:
                mark = time.perf_counter()
                partition = partitions[index] if partitions is not None else None
                kind = DOCUMENT if read[index] != event.kind else event.kind
                verdict = self._converse(
                    event, kind, verdict, joined.get(index), scanners, now, partition, states
                )
                seconds["conversations"] += time.perf_counter() - mark
            verdicts.append(verdict)
        if self.windows is not None:
            mark = time.perf_counter()
            self.windows.add(verdicts)
            seconds["stats"] += time.perf_counter() - mark
        seconds["scan"] += time.perf_counter() - began
        return verdicts

    def _score_joined(
        self,
        events: Sequence[Event],
        decisions: Sequence[Decision],
        policies: Sequence[tuple[ScannersSettings, int | None]],
        states: dict[str, ConversationState | None],
        read: Sequence[str],
    ) -> dict[int, ScanResult]:
        """The injection result of each joined text: the turn is not blocked already (a blocked
        turn cannot be raised). The patterns read every joined text (they cost little); the
        model reads one, a model row, only where it or one of the prompts it is joined with
        carries some risk (``conversations.joined_min_risk``): most everyday turns carry none.
        A joined text the model skipped has a result only where the patterns found something.
        Responses are not part of a joined text, so a risky response (a document, a tool
        output) is no reason to join the prompts around it: its own verdict and the rolling
        risk answer for it."""
        joined = self._joined_texts(events, states, decisions, read)
        if not joined:
            return {}
        options = self.settings.conversations
        earlier: dict[str, float] = {}  # this batch's earlier prompts, per conversation
        wanted: dict[int, str] = {}  # read by the model (and the patterns, per the mode)
        patterns: dict[int, str] = {}  # read by the patterns only
        for index, event in enumerate(events):
            cid = event.conversation_id
            if cid is None or read[index] != "prompt":
                continue
            risk = decisions[index].risk_score
            blocked = decisions[index].decision == "block"
            if index in joined and not blocked:
                before = remembered_prompt_risk(states.get(cid))
                if max(risk, before, earlier.get(cid, 0.0)) >= options.joined_min_risk:
                    wanted[index] = joined[index]
                elif policies[index][0].prompt_injection.mode != "ml":
                    patterns[index] = joined[index]
            if not blocked:  # a blocked turn was alerted on its own; it is not evidence again
                earlier[cid] = max(earlier.get(cid, 0.0), risk)
        self.stats.joined_skipped += len(joined) - len(wanted)
        out = self._read_joined(wanted, policies, patterns_only=False)
        out.update(self._read_joined(patterns, policies, patterns_only=True))
        self.stats.joined_scored += len(wanted)
        return out

    def _read_joined(
        self,
        texts: Mapping[int, str],
        policies: Sequence[tuple[ScannersSettings, int | None]],
        *,
        patterns_only: bool,
    ) -> dict[int, ScanResult]:
        """The injection scanner's result per joined text, a sub-batch per policy; read by the
        patterns alone, a text has a result only where they matched something."""
        by_policy: dict[int, list[int]] = {}
        for index in texts:
            by_policy.setdefault(id(policies[index][0]), []).append(index)
        out: dict[int, ScanResult] = {}
        for indices in by_policy.values():
            scanners = policies[indices[0]][0]
            if patterns_only:
                injection = dataclasses.replace(scanners.prompt_injection, mode="heuristic")
                scanners = dataclasses.replace(scanners, prompt_injection=injection)
            results = self.scanners.scan(
                [texts[i] for i in indices],
                ["prompt"] * len(indices),
                scanners,
                documents=False,
                only=("prompt_injection",),
            )["prompt_injection"]
            out.update(
                (i, result)
                for i, result in zip(indices, results, strict=True)
                if not patterns_only or result.matched
            )
        return out

    def _policy(self, event: Event) -> tuple[ScannersSettings, int | None]:
        if self.policies is None:
            return self.settings.scanners, None
        return self.policies.scanners_for(event.tenant)

    def _joined_texts(
        self,
        events: Sequence[Event],
        states: dict[str, ConversationState | None],
        decisions: Sequence[Decision],
        read: Sequence[str],
    ) -> dict[int, str]:
        """Per prompt of a conversation with earlier prompts, those prompts and it as one text;
        turns of one conversation in the same batch see each other in order (a blocked one is
        not remembered: it was alerted on its own, nor is a prompt read as a document).
        ``states`` keeps what was read from the book, for ``_converse``."""
        book = self.conversations
        if book is None or "prompt_injection" not in self.scanners.names:
            return {}
        options = self.settings.conversations
        joined: dict[int, str] = {}
        working: dict[str, ConversationState | None] = {}
        for index, event in enumerate(events):
            cid = event.conversation_id
            if cid is None or read[index] != "prompt":
                continue
            if cid in working:
                state = working[cid]
            else:
                state = states[cid] = book.get(cid)
            if state is not None and state.holds(event.id):
                continue  # delivered again: it was scored with its conversation already
            text = joined_prompts(state, event.text, options)
            if text is not None:
                joined[index] = text
            if decisions[index].decision == "block":
                continue
            keep = options.joined_prompts - 1
            prompts = (*(state.prompts if state else ()), event.text)[-keep:] if keep else ()
            working[cid] = evolve(state or ConversationState(), prompts=prompts)
        return joined

    def _converse(
        self,
        event: Event,
        kind: str,
        verdict: Verdict,
        joined: ScanResult | None,
        scanners: ScannersSettings,
        now: float,
        partition: int | None,
        states: dict[str, ConversationState | None],
    ) -> Verdict:
        """Advance the event's conversation and let an escalation raise the decision; the
        state is written to the partition its event came from (the changelog follows the input's
        partitioning, as a Faust table's does)."""
        assert self.conversations is not None and event.conversation_id is not None
        options = self.settings.conversations
        cid = event.conversation_id
        state = states[cid] if cid in states else self.conversations.get(cid)
        turn = Turn(event.id, kind, verdict.risk_score, verdict.decision, now)
        injection = scanners.get("prompt_injection")
        threshold = options.joined_threshold
        if joined is not None and joined.method in ("heuristic", "heuristic_fallback"):
            # pattern evidence is not on the model's scale (a named instruction scores 0.85-0.92):
            # an instruction the patterns read across the turns is judged as in one prompt
            threshold = injection.threshold
        if injection.action == "ignore":
            threshold = 1.0
        state, view = advance(
            state,
            turn,
            event.text,
            options,
            joined_score=joined.risk if joined is not None else None,
            joined_threshold=threshold,
        )
        self.conversations.put(cid, state, partition)
        states[cid] = state
        decision, risk = verdict.decision, verdict.risk_score
        if view.escalated and options.action != "ignore":
            self.stats.escalations += 1
            if options.action == "block" and decision != "block":
                decision = "block"
            elif options.action == "flag" and decision == "allow":
                decision = "flag"
            if view.joined_score is not None and view.joined_score >= threshold:
                risk = max(risk, round(view.joined_score, 4))
            elif view.rolling_risk > risk:
                risk = round(view.rolling_risk, 4)
        if decision != verdict.decision:
            self.stats.decisions[verdict.decision] -= 1
            self.stats.decisions[decision] += 1
        return evolve(verdict, decision=decision, risk_score=risk, conversation=view.to_dict())

    def _verdict(
        self,
        event: Event,
        results: Mapping[str, ScanResult],
        decision: Decision,
        latency_ms: float,
        processed_at: str,
        scanners: ScannersSettings,
        policy_version: int | None,
    ) -> Verdict:
        out = {
            name: result.to_dict(
                threshold=scanners.get(name).threshold,
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
            scanners=out,
            cache_hit=_all_cached(results.values()),
            latency_ms=latency_ms,
            processed_at=processed_at,
            conversation_id=event.conversation_id,
            tenant=event.tenant,
            metadata=event.metadata,
            policy_version=policy_version,
        )
