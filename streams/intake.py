"""The input topics' records in chunks, taken below faust's per-event stream.

faust turns every record into a message, an event, a dozen coroutines and several tasks before an
agent sees it, and acks each one under a lock; the worker scans in batches anyway, so that cost
was most of a cache hit's. Here the fetcher's records of the input topics are handed over per
partition as aiokafka returns them and are acknowledged by offset range into faust's own
bookkeeping, so faust still commits them and waits for those in flight at a rebalance or a stop;
where each input partition reads from is the intake's own business (see ``Intake``). Every other
topic (the conversation changelog during recovery) keeps faust's path.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from faust.types.tuples import ack_lock

# Records of one partition are handed over in chunks of at most this many (a chunk is the unit
# that is acknowledged, so the agent can cut a batch at any chunk boundary).
DEFAULT_CHUNK_RECORDS = 64

# A partition sought back (records dropped or a batch released) is tried this often.
REWIND_ATTEMPTS = 3
REWIND_BACKOFF_SECONDS = 0.5

log = logging.getLogger(__name__)


class InFlight:
    """Stands for a chunk in faust's set of unacknowledged messages, so that a rebalance or a stop
    waits for a chunk being scanned exactly as for an event of faust's own stream."""

    __slots__ = ("__weakref__", "acked", "refcount", "tp")

    def __init__(self, tp: Any) -> None:
        self.tp = tp
        self.acked = False
        self.refcount = 1

    def __repr__(self) -> str:
        return f"<chunk of {self.tp} in flight>"


@dataclass
class Chunk:
    """Consecutive records of one partition, fetched under one consumer generation.

    ``first_offset`` may be below the first record's offset: offsets a fetch skipped (transaction
    markers, compacted records) are acknowledged with the chunk that follows them, or the commit
    would stop at the gap.
    """

    tp: Any
    records: Sequence[Any]
    generation: int
    first_offset: int
    token: InFlight | None = field(default=None, repr=False)

    @property
    def last_offset(self) -> int:
        return self.records[-1].offset


def chunked(records: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [records[start : start + size] for start in range(0, len(records), size)]


class Intake:
    """Per input topic, a bounded queue of chunks between faust's fetcher and the agent.

    The fetcher side (``divert``) runs in faust's ``getmany`` on the app's loop; when a topic's
    queue holds ``max_queued`` records, the fetcher waits, so faust stops fetching, as it does when
    a stream's buffer is full. The agent side (``take``) tracks each chunk it takes as in flight;
    ``ack`` acknowledges it.

    At-least-once does not lean on faust's seeks alone (seen in CI: one partition's backlog was
    fetched just after faust's seek, dropped when faust resumed the flow, and never read again;
    and faust does not seek a partition that has no committed offset at all). The intake owns each
    input partition's position instead:

    - ``anchor`` (after every faust ``perform_seek``) seeks each assigned input partition itself,
      to its committed offset or, with none, to its first offset, and drops what was queued;
    - a partition's records are queued only when they continue exactly where the queue left off.
      A fetch that skips ahead is taken as a real gap (transaction markers, compaction) only when
      it began after the partition's last seek had completed; otherwise, and whenever records are
      dropped for any other reason, the partition is sought back to where the queue left off;
    - acks reach faust only as an unbroken run from the anchor: a chunk acked before an earlier
      one waits, and a chunk that is released (its batch failed) holds the commit back until it
      is read and acked again (it is sought back at once).
    """

    def __init__(
        self,
        app: Any,
        topics: Iterable[str],
        *,
        max_queued: int,
        chunk_records: int = DEFAULT_CHUNK_RECORDS,
        seek: Callable[[Any, dict], Awaitable[None]] | None = None,
        first_offsets: Callable[[Any, list], Awaitable[dict]] | None = None,
    ) -> None:
        self.app = app
        self.max_queued = max_queued
        self.chunk_records = max(1, chunk_records)
        self.queues: dict[str, collections.deque[Chunk]] = {t: collections.deque() for t in topics}
        self.queued_records = dict.fromkeys(self.queues, 0)
        self._arrived = {topic: asyncio.Event() for topic in self.queues}
        self._room = {topic: asyncio.Event() for topic in self.queues}
        self._seek = seek or _seek_in_consumer_thread
        self._first_offsets = first_offsets or _first_offsets
        # next offset each input partition's queue expects; absent: not anchored, records dropped
        self.position: dict[Any, int] = {}
        # every offset below this is acked (processed, or a gap) since the partition's anchor
        self.done: dict[Any, int] = {}
        # acked chunks beyond ``done``: first offset -> last offset
        self.waiting: dict[Any, dict[int, int]] = {}
        # seeks: a fetch is "fresh" for a partition when it began after the partition's last
        # seek had completed (fetches are sequential: at most one straddles a seek)
        self.seek_serial = 0
        self.sought_at: dict[Any, int] = {}
        self.seeking: set[Any] = set()
        self.tickets: dict[Any, int] = {}
        self._rewinding: set[Any] = set()
        self._reanchoring: asyncio.Future | None = None
        self.seeks_under_way = 0  # faust's perform_seek, with the anchor after it
        self._tasks: set[asyncio.Task] = set()
        self.rewinds = 0  # seeks back after dropped or released records (read by tests)
        # Set when this process started over on a broker that came back empty: the next anchor
        # starts every input partition at its first offset (see ``anchor``).
        self.rewind_next_anchor = False
        app.flow_control.manage_queue(self)

    # -- positions ----------------------------------------------------------------------------

    def is_input(self, tp: Any) -> bool:
        return tp.topic in self.queues

    async def anchor(self, consumer: Any, committed: dict) -> None:
        """Start the input partitions of ``committed`` (aiokafka's seek to the committed
        offsets: every assigned partition, its offset or None) afresh: what was queued is
        dropped, and each partition is sought explicitly, including those aiokafka leaves where
        they are (no committed offset, or 0). Partitions not in it are forgotten.

        With ``rewind_next_anchor`` (the broker restarted empty), every partition starts at its
        first offset, whatever is committed: the process before this one kept faust's read
        offsets from the old broker, dropped the new broker's records below them and could
        commit offsets past them (seen under load: 86 of 300 events never scanned). The new
        broker holds only what was written since it came back; reading it again is the
        at-least-once duplicate we accept. faust's own committed and read offsets for them are
        cleared too, or it would commit nothing until the acks pass the old offsets. A commit
        from outside the group cannot do this: Tansu refuses one to a group that ever had a
        member."""
        starts = {tp: offset for tp, offset in committed.items() if self.is_input(tp)}
        rewind = self.rewind_next_anchor and bool(starts)
        committed_before = starts
        if rewind:
            self.rewind_next_anchor = False
            starts = dict.fromkeys(committed_before)
        unknown = [tp for tp, offset in starts.items() if offset is None or offset < 0]
        if unknown:
            starts.update(await self._first_offsets(consumer, unknown))
        if rewind:
            for tp in starts:
                consumer._committed_offset[tp] = None
                consumer._read_offset[tp] = None
            skipped = sum(
                max(0, offset - starts[tp])
                for tp, offset in committed_before.items()
                if offset is not None
            )
            log.warning(
                "reading the restarted broker's topics from the beginning (the group's offsets "
                "had passed %d records)",
                skipped,
            )
        log.info(
            "anchored %s",
            ", ".join(
                f"{tp.topic}[{tp.partition}]@{start}"
                for tp, start in sorted(starts.items(), key=lambda i: (i[0].topic, i[0].partition))
            )
            or "no input partitions",
        )
        for tp in list(self.position):
            if tp not in starts:
                self._forget(tp)
        for tp, start in starts.items():
            self._drop_queued(tp)
            self.position[tp] = start
            self.done[tp] = start
            self.waiting[tp] = {}
            self._new_target(tp)
        await self._seek_partitions(consumer, starts)

    def _forget(self, tp: Any) -> None:
        self.position.pop(tp, None)
        self.done.pop(tp, None)
        self.waiting.pop(tp, None)
        self.sought_at.pop(tp, None)
        self.seeking.discard(tp)

    def _new_target(self, tp: Any) -> None:
        """``position[tp]`` is a new place to read from: fetches are not fresh for ``tp`` until
        a seek there completes (and no newer target was set meanwhile)."""
        self.tickets[tp] = self.tickets.get(tp, 0) + 1
        self.seeking.add(tp)

    async def _seek_partitions(self, consumer: Any, offsets: dict) -> None:
        tickets = {tp: self.tickets.get(tp, 0) for tp in offsets}
        if offsets:
            await self._seek(consumer, offsets)
        self.seek_serial += 1
        for tp, ticket in tickets.items():
            if self.tickets.get(tp, 0) == ticket:
                self.seeking.discard(tp)
                self.sought_at[tp] = self.seek_serial

    def rewind(self, tp: Any, offset: int, why: str) -> None:
        """Records of ``tp`` from ``offset`` on must be read again: drop what is queued after it
        and seek back there (if the partition is anchored; an anchor seeks anyway)."""
        position = self.position.get(tp)
        if position is None or offset > position:
            return
        self._drop_queued(tp)
        self.rewinds += 1
        if not self.app.consumer.flow_active:
            # a rebalance or a stop is under way: the anchor after it seeks the partition
            self.position.pop(tp, None)
            return
        self.position[tp] = offset
        self._new_target(tp)
        log.info("reading %s again from offset %d (%s)", tp, offset, why)
        if tp not in self._rewinding:
            self._rewinding.add(tp)
            task = asyncio.ensure_future(self._rewind(tp))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _rewind(self, tp: Any) -> None:
        """Seek ``tp`` to its position until a seek completes with no newer target set."""
        failures = 0
        try:
            while True:
                offset = self.position.get(tp)
                if offset is None:
                    return  # revoked meanwhile: the next anchor seeks it
                ticket = self.tickets.get(tp, 0)
                try:
                    await self._seek_partitions(self.app.consumer, {tp: offset})
                except Exception as exc:  # noqa: BLE001 - a failed seek must not stop the worker
                    failures += 1
                    if failures == REWIND_ATTEMPTS:
                        # tp stays "seeking": its next record off the position tries again
                        log.warning("could not seek %s back to offset %d: %r", tp, offset, exc)
                        return
                    await asyncio.sleep(REWIND_BACKOFF_SECONDS)
                    continue
                if self.tickets.get(tp, 0) == ticket:
                    return
        finally:
            self._rewinding.discard(tp)

    def _unanchored(self, consumer: Any, tp: Any) -> None:
        """Records of an input partition that was never anchored, outside a rebalance: faust's
        seek after the assignment did not happen or failed. Seek once more rather than let the
        partition stall."""
        if self._reanchoring is not None or self.seeks_under_way or self.app.rebalancing:
            return
        if not self.app.flow_control.is_active() or tp not in consumer.assignment():
            return
        log.warning("input partition %s has no start position; seeking to committed offsets", tp)
        self._reanchoring = asyncio.ensure_future(consumer.perform_seek())

        def done(task: asyncio.Future) -> None:
            self._reanchoring = None
            if not task.cancelled() and task.exception() is not None:
                log.warning("seeking to committed offsets failed: %r", task.exception())

        self._reanchoring.add_done_callback(done)

    def _fresh(self, tp: Any, fetch_serial: int) -> bool:
        return tp not in self.seeking and fetch_serial >= self.sought_at.get(tp, 0)

    def _drop_queued(self, tp: Any) -> None:
        queue = self.queues[tp.topic]
        dropped = sum(len(chunk.records) for chunk in queue if chunk.tp == tp)
        if not dropped:
            return
        kept = [chunk for chunk in queue if chunk.tp != tp]
        queue.clear()
        queue.extend(kept)
        self.queued_records[tp.topic] -= dropped
        self._room[tp.topic].set()

    # -- the fetcher's side -------------------------------------------------------------------

    async def divert(
        self, consumer: Any, records: dict, active: set | None, fetch_serial: int | None = None
    ) -> dict:
        """Take the input topics' records out of a fetch; the rest goes on to faust.
        ``fetch_serial`` is ``seek_serial`` when the fetch began."""
        if fetch_serial is None:
            fetch_serial = self.seek_serial
        rest = {}
        for tp, fetched in records.items():
            if not self.is_input(tp):
                rest[tp] = fetched
                continue
            if not fetched:
                continue
            inactive = not consumer.flow_active or (
                active is not None and tp not in active and tp not in consumer._buffered_partitions
            )
            if inactive:
                self._dropped(tp, fetched, "fetched while the partition or the flow was paused")
                continue
            await self._offer(consumer, tp, fetched, fetch_serial)
        return rest

    def _dropped(self, tp: Any, fetched: Sequence[Any], why: str) -> None:
        """Records the fetcher returned were not queued: aiokafka has moved past them."""
        position = self.position.get(tp)
        if position is not None and fetched[-1].offset >= position:
            self.rewind(tp, position, why)

    async def _offer(self, consumer: Any, tp: Any, fetched: Sequence[Any], serial: int) -> None:
        generation = self.app.consumer_generation_id
        topic = tp.topic
        while self.queued_records[topic] >= self.max_queued:
            room = self._room[topic]
            room.clear()
            await room.wait()
        if not consumer.flow_active or self.app.consumer_generation_id != generation:
            self._dropped(tp, fetched, "a rebalance began while the queue was full")
            return
        position = self.position.get(tp)
        if position is None:
            self._unanchored(consumer, tp)  # in a rebalance: the anchor at its end seeks it
            return
        if fetched[0].offset < position:
            fetched = [record for record in fetched if record.offset >= position]
            if not fetched:
                return
        first = fetched[0].offset
        if first > position:
            if not self._fresh(tp, serial):
                # fetched before a seek of this partition took effect: ask again
                self.rewind(tp, position, "fetched before a seek took effect")
                return
            first = position  # a real gap: acked with the chunk after it
        queue = self.queues[topic]
        for part in chunked(fetched, self.chunk_records):
            queue.append(Chunk(tp, part, generation, first))
            first = part[-1].offset + 1
        self.position[tp] = first
        consumer._read_offset[tp] = fetched[-1].offset
        self.queued_records[topic] += len(fetched)
        self.app.monitor.track_tp_end_offset(tp, consumer.highwater(tp))
        self._arrived[topic].set()

    def clear(self) -> None:
        """faust's flow control: called when partitions are revoked or the worker stops (flow
        suspended), and again when flow resumes. At a suspension, records not taken are dropped
        and no partition is anchored until faust's next seek (``anchor``); at a resume nothing
        is dropped: what was queued since the anchor is exactly what comes next."""
        if self.app.flow_control.is_active():
            return
        for topic, queue in self.queues.items():
            queue.clear()
            self.queued_records[topic] = 0
            self._room[topic].set()
        self.position.clear()

    # -- the agent's side ---------------------------------------------------------------------

    async def wait(self, topic: str) -> None:
        """Until the topic has at least one chunk queued."""
        while not self.queues[topic]:
            await self.next_arrival(topic)

    async def next_arrival(self, topic: str) -> None:
        """Until the fetcher queues the topic's next chunks."""
        arrived = self._arrived[topic]
        arrived.clear()
        await arrived.wait()

    def take(self, topic: str, max_records: int) -> list[Chunk]:
        """Queued chunks of ``topic`` up to ``max_records`` records (at least one chunk when
        any is queued), each tracked as in flight from now on."""
        queue = self.queues[topic]
        consumer = self.app.consumer
        generation = self.app.consumer_generation_id
        active = self.app.flow_control.is_active()
        taken: list[Chunk] = []
        count = 0
        now = time.monotonic()
        inbound = self.app.monitor.stream_inbound_time
        while queue and (not taken or count + len(queue[0].records) <= max_records):
            chunk = queue.popleft()
            self.queued_records[topic] -= len(chunk.records)
            if not active or chunk.generation != generation:
                self.rewind(chunk.tp, chunk.first_offset, "taken during a rebalance")
                continue
            chunk.token = InFlight(chunk.tp)
            consumer._unacked_messages.add(chunk.token)
            inbound[chunk.tp] = now  # faust's check that a partition's stream is moving
            taken.append(chunk)
            count += len(chunk.records)
        if self.queued_records[topic] < self.max_queued:
            self._room[topic].set()
        return taken

    def queued(self, topic: str) -> int:
        return self.queued_records[topic]

    def ack(self, chunks: Sequence[Chunk]) -> None:
        """Every record of ``chunks`` is done (its outputs acknowledged by the broker). faust
        gets their offsets, as ``Stream.ack`` gives it an event's, once they continue the
        partition's unbroken run of acked offsets; until then they wait here."""
        consumer = self.app.consumer
        with ack_lock:
            for chunk in chunks:
                token = chunk.token
                if token is None or token.acked:
                    continue
                token.acked = True
                consumer._unacked_messages.discard(token)
                tp = chunk.tp
                done = self.done.get(tp)
                if done is None or chunk.last_offset < done:
                    continue  # not anchored (read again after the anchor), or committed
                waiting = self.waiting.setdefault(tp, {})
                first = chunk.first_offset
                waiting[first] = max(chunk.last_offset, waiting.get(first, -1))
                self._advance(consumer, tp, done, waiting)
            ready = consumer._waiting_for_ack
            if ready is not None and not ready.done():
                ready.set_result(None)

    def _advance(self, consumer: Any, tp: Any, done: int, waiting: dict[int, int]) -> None:
        start = done
        for first in sorted(waiting):
            if first > done:
                break
            done = max(done, waiting.pop(first) + 1)
        if done == start:
            return
        self.done[tp] = done
        fresh = range(start, done)
        consumer._acked_index[tp].update(fresh)
        consumer._acked[tp].extend(fresh)
        consumer._n_acked += len(fresh)

    def release(self, chunks: Sequence[Chunk]) -> None:
        """``chunks`` will not be acknowledged (their batch failed): stop tracking them, so a
        stop does not wait for them. Their partitions commit no further than their first offset,
        and are sought back there, so they are read again."""
        consumer = self.app.consumer
        with ack_lock:
            for chunk in chunks:
                if chunk.token is not None and not chunk.token.acked:
                    chunk.token.acked = True
                    consumer._unacked_messages.discard(chunk.token)
                    self.rewind(chunk.tp, chunk.first_offset, "its batch failed")


async def _seek_in_consumer_thread(consumer: Any, offsets: dict) -> None:
    """faust's ``seek_wait`` runs aiokafka's seek in the consumer's thread and returns once it
    has; a fetch begun after that reads from the new positions."""
    await consumer.seek_wait(offsets)


async def _first_offsets(consumer: Any, tps: list) -> dict:
    """Where a partition with no committed offset starts (the worker reads from the earliest)."""
    return dict(await consumer.earliest_offsets(*tps))


def divert_fetches() -> None:
    """Route faust's fetches and seeks through the app's ``Intake`` where it has one
    (faust-streaming has no hook for either): we wrap the method that returns a fetch's records,
    and ``perform_seek`` (faust's seek back to the committed offsets after every rebalance), after
    which the intake anchors its partitions. Idempotent."""
    from faust.transport.consumer import Consumer, ThreadDelegateConsumer

    if getattr(Consumer, "_llm_shield_diverted", False):
        return
    Consumer._llm_shield_diverted = True  # type: ignore[attr-defined]
    wait_original = Consumer._wait_next_records
    seek_original = Consumer.perform_seek
    committed_original = ThreadDelegateConsumer.seek_to_committed

    async def wait_next_records(self: Any, timeout: float) -> tuple[Any, Any]:
        intake = getattr(self.app, "_llm_shield_intake", None)
        serial = intake.seek_serial if intake is not None else 0
        records, active = await wait_original(self, timeout)
        if intake is None or not records:
            return records, active
        return await intake.divert(self, records, active, serial), active

    async def seek_to_committed(self: Any) -> Any:
        committed = await committed_original(self)
        self._llm_shield_committed = dict(committed)
        return committed

    async def perform_seek(self: Any) -> None:
        intake = getattr(self.app, "_llm_shield_intake", None)
        if intake is None:
            await seek_original(self)
            return
        intake.seeks_under_way += 1
        try:
            self._llm_shield_committed = {}
            await seek_original(self)
            await intake.anchor(self, self._llm_shield_committed)
        finally:
            intake.seeks_under_way -= 1

    Consumer._wait_next_records = wait_next_records  # type: ignore[method-assign]
    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]
    ThreadDelegateConsumer.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
