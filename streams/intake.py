"""The input topics' records in chunks, taken below faust's per-event stream.

faust turns every record into a message, an event, a dozen coroutines and several tasks before an
agent sees it, and acks each one under a lock; the worker scans in batches anyway, so that cost
was most of a cache hit's. Here the fetcher's records of the input topics are handed over per
partition as aiokafka returns them and are acknowledged by offset range into faust's own
bookkeeping, so faust still commits them, waits for those in flight at a rebalance or a stop, and
seeks back after one. Every other topic (the conversation changelog during recovery) keeps faust's
path.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from faust.types.tuples import ack_lock

# Records of one partition are handed over in chunks of at most this many (a chunk is the unit
# that is acknowledged, so the agent can cut a batch at any chunk boundary).
DEFAULT_CHUNK_RECORDS = 64


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
    ``ack`` acknowledges it. faust's flow control clears the queues at a rebalance: records
    fetched but not yet taken are read again after faust seeks back to the committed offsets.
    """

    def __init__(
        self,
        app: Any,
        topics: Iterable[str],
        *,
        max_queued: int,
        chunk_records: int = DEFAULT_CHUNK_RECORDS,
    ) -> None:
        self.app = app
        self.max_queued = max_queued
        self.chunk_records = max(1, chunk_records)
        self.queues: dict[str, collections.deque[Chunk]] = {t: collections.deque() for t in topics}
        self.queued_records = dict.fromkeys(self.queues, 0)
        self._arrived = {topic: asyncio.Event() for topic in self.queues}
        self._room = {topic: asyncio.Event() for topic in self.queues}
        app.flow_control.manage_queue(self)

    # -- the fetcher's side -------------------------------------------------------------------

    async def divert(self, consumer: Any, records: dict, active: set | None) -> dict:
        """Take the input topics' records out of a fetch; the rest goes on to faust."""
        rest = {}
        for tp, fetched in records.items():
            if tp.topic not in self.queues:
                rest[tp] = fetched
                continue
            if not fetched or not consumer.flow_active:
                continue  # faust seeks back to the committed offsets when flow resumes
            if active is not None and tp not in active and tp not in consumer._buffered_partitions:
                continue
            await self._offer(consumer, tp, fetched)
        return rest

    async def _offer(self, consumer: Any, tp: Any, fetched: Sequence[Any]) -> None:
        generation = self.app.consumer_generation_id
        topic = tp.topic
        while self.queued_records[topic] >= self.max_queued:
            room = self._room[topic]
            room.clear()
            await room.wait()
        if not consumer.flow_active or self.app.consumer_generation_id != generation:
            return  # a rebalance began while we waited: these are read again after it
        read = consumer._read_offset[tp]
        if read is not None:
            fetched = [record for record in fetched if record.offset >= read]
            if not fetched:
                return
        first = fetched[0].offset
        if read is not None and first > read + 1:
            first = read + 1
        queue = self.queues[topic]
        for part in chunked(fetched, self.chunk_records):
            queue.append(Chunk(tp, part, generation, first))
            first = part[-1].offset + 1
        consumer._read_offset[tp] = fetched[-1].offset
        self.queued_records[topic] += len(fetched)
        self.app.monitor.track_tp_end_offset(tp, consumer.highwater(tp))
        self._arrived[topic].set()

    def clear(self) -> None:
        """faust's flow control: a rebalance began (or ended). Records not taken yet are
        dropped; faust seeks back to the committed offsets, so they are read again."""
        for topic, queue in self.queues.items():
            queue.clear()
            self.queued_records[topic] = 0
            self._room[topic].set()

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
                continue  # fetched before a rebalance: read again after faust's seek
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
        """Every record of ``chunks`` is done (its outputs acknowledged by the broker): their
        offsets become committable, as ``Stream.ack`` makes an event's, but one range at a
        time."""
        consumer = self.app.consumer
        with ack_lock:
            for chunk in chunks:
                token = chunk.token
                if token is None or token.acked:
                    continue
                token.acked = True
                consumer._unacked_messages.discard(token)
                tp = chunk.tp
                start = chunk.first_offset
                committed = consumer._committed_offset[tp]
                if committed is not None:
                    start = max(start, committed)
                acked_index = consumer._acked_index[tp]
                fresh = [o for o in range(start, chunk.last_offset + 1) if o not in acked_index]
                if fresh:
                    acked_index.update(fresh)
                    consumer._acked[tp].extend(fresh)
                    consumer._n_acked += len(fresh)
            waiting = consumer._waiting_for_ack
            if waiting is not None and not waiting.done():
                waiting.set_result(None)

    def release(self, chunks: Sequence[Chunk]) -> None:
        """``chunks`` will not be acknowledged (their batch failed): stop tracking them, so a
        stop does not wait for them; they are read again after a restart."""
        consumer = self.app.consumer
        with ack_lock:
            for chunk in chunks:
                if chunk.token is not None and not chunk.token.acked:
                    chunk.token.acked = True
                    consumer._unacked_messages.discard(chunk.token)


def divert_fetches() -> None:
    """Route faust's fetches through the app's ``Intake`` where it has one (faust-streaming has
    no hook for it): we wrap the one method that returns a fetch's records. Idempotent."""
    from faust.transport.consumer import Consumer

    original = getattr(Consumer, "_llm_shield_original_wait", None)
    if original is None:
        original = Consumer._wait_next_records
        Consumer._llm_shield_original_wait = original  # type: ignore[attr-defined]

    async def wait_next_records(self: Any, timeout: float) -> tuple[Any, Any]:
        records, active = await original(self, timeout)
        intake = getattr(self.app, "_llm_shield_intake", None)
        if intake is None or not records:
            return records, active
        return await intake.divert(self, records, active), active

    Consumer._wait_next_records = wait_next_records  # type: ignore[method-assign]
