"""Conversation state: the last turns of each ``conversation_id``, their rolling risk, and what a
new turn does to it; pure, so the worker (a changelog-backed Faust table), ``replay`` and tests
share it.

An attack split across turns ("remember X" ... "now do X") or a slow escalation looks harmless one
turn at a time. The state keeps the last prompts' text so the injection scanner can read them
joined, and a rolling risk (a noisy-OR of the turns' risks, older turns weighted down) that rises
when several turns are each a little risky.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, NamedTuple

import orjson

from llm_shield.streams.config import ConversationSettings
from llm_shield.streams.frozen import record

# A remembered prompt is cut to this many characters (the joined text is scored as one input).
MAX_PROMPT_CHARS = 2000
# How many decoded states the book keeps beside the serialised ones (ConversationBook.get):
# about 3.9 KB each at 10 turns (tracemalloc), so 16 MB at most.
DECODED_STATES = 4096
# The kind a turn records for a prompt read as a document (``models.document_words``): its risk
# counts in the rolling risk, but its text is never joined with the next prompts. It was read
# whole and sentence by sentence already; joined with "ok, now shorten it" and read as a prompt,
# a benign pasted document escalated the short turn after it (22 of 109 tuning documents).
DOCUMENT = "document"


class Turn(NamedTuple):
    """A named tuple, not a dataclass: a state holds up to 20 and is read for every turn
    (building 20 frozen dataclasses was three quarters of reading a state back)."""

    id: str
    kind: str  # prompt | response | document (a prompt read as a document: DOCUMENT)
    risk: float  # the turn's own risk (its verdict's risk_score)
    decision: str
    at: float  # unix seconds


@record
class ConversationState:
    turns: tuple[Turn, ...] = ()
    prompts: tuple[str, ...] = ()  # the last prompts' text, oldest first (joined_prompts - 1)
    seen: int = 0  # turns seen in all, also those no longer remembered
    last_seen: float = 0.0

    def to_json(self) -> bytes:
        encoded = orjson.dumps(
            {
                "v": 1,
                "turns": [tuple(turn) for turn in self.turns],
                "prompts": list(self.prompts),
                "seen": self.seen,
                "last_seen": self.last_seen,
            }
        )
        # orjson's bytes keep its whole output buffer (4 KiB for a 1 KiB state, measured);
        # the state is held for hours, so it is kept as an exact copy.
        return memoryview(encoded).tobytes()

    @classmethod
    def from_json(cls, value: bytes | None) -> ConversationState | None:
        """None for a tombstone or a record of another shape (the conversation starts over)."""
        if not value:
            return None
        try:
            data = orjson.loads(value)
            turns = tuple(map(Turn._make, data["turns"]))
            if any(len(turn) != 5 for turn in turns):
                return None
            return cls(
                turns=turns,
                prompts=tuple(data["prompts"]),
                seen=int(data["seen"]),
                last_seen=float(data["last_seen"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    def holds(self, event_id: str) -> bool:
        return any(turn.id == event_id for turn in self.turns)


def joined_prompts(
    state: ConversationState | None, text: str, settings: ConversationSettings
) -> str | None:
    """The last prompts and this one as one text, or None when there is nothing to join (or
    this prompt is long enough to be read whole on its own)."""
    if state is None or settings.joined_prompts < 2 or not state.prompts:
        return None
    if settings.joined_max_words and len(text.split()) > settings.joined_max_words:
        return None
    earlier = state.prompts[-(settings.joined_prompts - 1) :]
    return "\n".join((*earlier, text[:MAX_PROMPT_CHARS]))


def remembered_prompt_risk(state: ConversationState | None) -> float:
    """The highest own risk among the prompts a joined text would repeat: the turns whose text
    ``state.prompts`` holds (prompts not blocked, since the last joined catch)."""
    if state is None or not state.prompts:
        return 0.0
    held = [t.risk for t in state.turns if t.kind == "prompt" and t.decision != "block"]
    return max(held[-len(state.prompts) :], default=0.0)


def rolling_risk(risks: Iterable[float], decay: float) -> float:
    """Noisy-OR of the turns' risks, newest last; a turn k turns back counts ``decay**k``."""
    keep = 1.0
    weight = 1.0
    for risk in reversed(list(risks)):
        keep *= 1.0 - min(1.0, max(0.0, risk)) * weight
        weight *= decay
    return 1.0 - keep


@record
class ConversationView:
    """What a verdict says about its conversation (the ``conversation`` block)."""

    turns: int
    rolling_risk: float
    escalated: bool
    joined_score: float | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "turns": self.turns,
            "rolling_risk": round(self.rolling_risk, 4),
            "escalated": self.escalated,
        }
        if self.joined_score is not None:
            out["joined_score"] = round(self.joined_score, 4)
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def advance(
    state: ConversationState | None,
    turn: Turn,
    text: str,
    settings: ConversationSettings,
    *,
    joined_score: float | None = None,
    joined_threshold: float = 1.0,
) -> tuple[ConversationState, ConversationView]:
    """The state after ``turn`` and what its verdict says. A turn already held (an event
    delivered again after a crash) leaves the state as it was: the count does not jump.

    The rolling risk adds up the turns' own risks only: a joined text repeats earlier turns, so
    counting its score into every turn would count the same words again and again. A joined
    score at or over ``joined_threshold`` escalates the turn on its own."""
    state = state or ConversationState()
    if state.holds(turn.id):
        risks = [t.risk for t in state.turns]
        rolling = rolling_risk(risks, settings.decay)
        return state, ConversationView(state.seen, rolling, rolling >= settings.escalation_risk)
    joined_hit = joined_score is not None and joined_score >= joined_threshold
    turns = (*state.turns, turn)[-settings.max_turns :]
    prompts = state.prompts
    if joined_hit:
        prompts = ()  # caught and alerted: the next turns are joined afresh, not re-counted
    elif turn.decision == "block":
        pass  # blocked on its own and alerted: its words do not make the next turns suspect
    elif turn.kind == "prompt" and settings.joined_prompts > 1:
        prompts = (*prompts, text[:MAX_PROMPT_CHARS])[-(settings.joined_prompts - 1) :]
    new = ConversationState(turns, prompts, state.seen + 1, turn.at)
    rolling = rolling_risk([t.risk for t in turns], settings.decay)
    escalated = joined_hit or rolling >= settings.escalation_risk
    reason = None
    if joined_hit:
        joined = min(settings.joined_prompts, sum(1 for t in turns if t.kind == "prompt"))
        reason = f"the last {joined} prompts together score {joined_score:.2f} for injection"
    elif escalated and turn.risk < settings.escalation_risk:
        reason = f"rolling risk {rolling:.2f} over {len(turns)} turns"
    return new, ConversationView(new.seen, rolling, escalated, joined_score, reason)


class ConversationBook:
    """The conversations one worker holds, bounded in count and idle time.

    States live serialised in ``store`` (a dict, or the worker's Faust table store, which
    recovery fills from the changelog); an index keeps them least recently seen first, with the
    partition each was last written to. The pipeline's thread reads and writes; ``drain`` hands
    the changes (partition, key, value or None) to whatever persists them, the worker's
    changelog, and ``expire`` runs on the event loop's timer. A lock keeps the two apart.
    """

    def __init__(
        self,
        settings: ConversationSettings,
        store: MutableMapping[bytes, bytes] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store: MutableMapping[bytes, bytes] = {} if store is None else store
        self.partitions: MutableMapping[bytes, int] | None = None
        self.clock = clock
        self._index: OrderedDict[bytes, tuple[float, int | None]] = OrderedDict()
        self._changes: dict[bytes, tuple[int | None, bytes | None]] = {}
        # The states read or written last, each beside the very bytes object it was decoded
        # from (or encoded to). Decoding a state of 10 turns was 28 of the 66 us a turn of a
        # conversation cost the pipeline (cProfile, the bench's conversation stream); a state
        # is reused only while the store still holds that same object, so a value that a
        # recovery or a rebalance replaced or dropped is decoded again.
        self._decoded: OrderedDict[bytes, tuple[bytes, ConversationState]] = OrderedDict()
        self._lock = threading.Lock()
        self.expired = 0
        self.evicted = 0

    def get(self, conversation_id: str) -> ConversationState | None:
        key = conversation_id.encode()
        with self._lock:
            raw = self.store.get(key)
            if raw is None:
                return None
            held = self._decoded.get(key)
            if held is not None and held[0] is raw:
                state = held[1]
            else:
                decoded = ConversationState.from_json(raw)
                if decoded is None:
                    return None
                state = decoded
                self._remember(key, raw, state)
            if self.clock() - state.last_seen > self.settings.idle_seconds:
                self._drop(key, self._index.get(key, (0.0, None))[1])
                self.expired += 1
                return None
            return state

    def put(
        self, conversation_id: str, state: ConversationState, partition: int | None = None
    ) -> None:
        key = conversation_id.encode()
        value = state.to_json()
        with self._lock:
            self.store[key] = value
            if self.partitions is not None and partition is not None:
                self.partitions[key] = partition
            self._index[key] = (state.last_seen, partition)
            self._index.move_to_end(key)
            self._changes[key] = (partition, value)
            self._remember(key, value, state)
            while len(self._index) > self.settings.max_conversations:
                oldest, (_, where) = next(iter(self._index.items()))
                self._drop(oldest, where)
                self.evicted += 1

    def bind(
        self, store: MutableMapping[bytes, bytes], partitions: MutableMapping[bytes, int]
    ) -> None:
        """Keep the states in a Faust table's store (and its key -> partition map, which faust
        reads to drop the keys of partitions taken away at a rebalance)."""
        with self._lock:
            for key, value in self.store.items():
                store[key] = value
            self.store = store
            self.partitions = partitions

    def reindex(self) -> None:
        """After a recovery: index what the changelog brought, forget what faust dropped."""
        with self._lock:
            gone = [key for key in self._index if key not in self.store]
            for key in gone:
                self._index.pop(key, None)
            known = self.partitions or {}
            for key in list(self.store):
                if key not in self._index:
                    state = ConversationState.from_json(self.store.get(key))
                    if state is not None:
                        self._index[key] = (state.last_seen, known.get(key))
            ordered = sorted(self._index.items(), key=lambda item: item[1][0])
            self._index = OrderedDict(ordered)

    def expire(self) -> list[tuple[int | None, bytes]]:
        """Drop every conversation idle for longer than ``idle_seconds``; returns their
        (partition, key) so that the caller writes the tombstones."""
        cutoff = self.clock() - self.settings.idle_seconds
        with self._lock:
            idle = [(key, where) for key, (seen, where) in self._index.items() if seen < cutoff]
            for key, _where in idle:
                self.store.pop(key, None)
                self._index.pop(key, None)
                self._changes.pop(key, None)
                self._decoded.pop(key, None)
        self.expired += len(idle)
        return [(where, key) for key, where in idle]

    def _drop(self, key: bytes, partition: int | None) -> None:
        self.store.pop(key, None)
        self._index.pop(key, None)
        self._decoded.pop(key, None)
        self._changes[key] = (partition, None)

    def _remember(self, key: bytes, raw: bytes, state: ConversationState) -> None:
        self._decoded[key] = (raw, state)
        self._decoded.move_to_end(key)
        if len(self._decoded) > DECODED_STATES:
            self._decoded.popitem(last=False)

    def drain(self) -> list[tuple[int | None, bytes, bytes | None]]:
        with self._lock:
            changes, self._changes = self._changes, {}
        return [(partition, key, value) for key, (partition, value) in changes.items()]

    def __len__(self) -> int:
        return len(self._index)

    def held_bytes(self) -> int:
        """What the states take serialised (the metric the memory bound is checked against)."""
        with self._lock:
            return sum(len(self.store.get(key) or b"") for key in self._index)
