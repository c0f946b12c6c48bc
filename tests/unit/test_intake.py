"""The intake hands the input topics' records over in chunks and acks them by offset range into
faust's own bookkeeping: what faust then commits, waits for and drops must be what it would for
events of its stream, and no record may be committed unread whatever order faust's seeks,
flow changes and fetches come in. A real (unstarted) faust app and consumer; fetched records and
the consumer thread's seeks are faked."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import faust
import pytest
from faust.types import TP

from llm_shield.streams.intake import Intake


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes = b"{}"
    headers: tuple = ()


def fetched(topic: str, partition: int, offsets: list[int]) -> list[Record]:
    return [Record(topic, partition, offset) for offset in offsets]


@pytest.fixture
def app() -> faust.App:
    app = faust.App(
        "test-intake",
        broker="kafka://127.0.0.1:1",
        store="memory://",
        web_enabled=False,
        autodiscover=False,
    )
    app.flow_control.resume()  # as faust does once partitions are assigned
    app.consumer.highwater = lambda tp: 0  # the one call that needs the consumer's thread
    return app


class Seeks:
    """The consumer thread's seeks, recorded; ``first`` is where partitions without a
    committed offset start."""

    def __init__(self, first: int = 0) -> None:
        self.calls: list[dict] = []
        self.first = first

    async def seek(self, consumer, offsets: dict) -> None:
        self.calls.append(dict(offsets))

    async def first_offsets(self, consumer, tps: list) -> dict:
        return dict.fromkeys(tps, self.first)


def intake_for(
    app: faust.App, max_queued: int = 100, chunk_records: int = 4, seeks: Seeks | None = None
) -> Intake:
    seeks = seeks or Seeks()
    return Intake(
        app,
        ["prompts", "responses"],
        max_queued=max_queued,
        chunk_records=chunk_records,
        seek=seeks.seek,
        first_offsets=seeks.first_offsets,
    )


async def anchored(intake: Intake, committed: dict) -> None:
    """What faust's seek after an assignment leads to (``perform_seek`` -> ``anchor``)."""
    await intake.anchor(intake.app.consumer, committed)


def test_acked_chunks_become_faust_commit_offsets_and_unacked_ones_hold_the_commit_back(app):
    async def go() -> None:
        intake = intake_for(app)
        consumer = app.consumer
        tp = TP("prompts", 0)
        await anchored(intake, {tp: None})
        await intake.divert(consumer, {tp: fetched("prompts", 0, list(range(10)))}, None)
        chunks = intake.take("prompts", 100)
        assert [len(c.records) for c in chunks] == [4, 4, 2]
        intake.ack([chunks[0], chunks[2]])  # the middle chunk is still being delivered
        assert consumer._new_offset(tp) == 4
        intake.ack([chunks[1]])
        assert consumer._new_offset(tp) == 10

    asyncio.run(go())


def test_offsets_a_fetch_skipped_are_acked_with_the_next_chunk_so_the_commit_passes_them(app):
    async def go() -> None:
        intake = intake_for(app)
        consumer = app.consumer
        tp = TP("prompts", 1)
        await anchored(intake, {tp: None})
        await intake.divert(consumer, {tp: fetched("prompts", 1, [0, 1, 2])}, None)
        # 3 and 4 are transaction markers (no records); the next fetch starts at 5
        await intake.divert(consumer, {tp: fetched("prompts", 1, [5, 6])}, None)
        intake.ack(intake.take("prompts", 100))
        assert consumer._new_offset(tp) == 7
        assert intake.rewinds == 0

    asyncio.run(go())


def test_a_chunk_in_flight_is_waited_for_by_faust_until_acked_or_released(app):
    async def go() -> None:
        seeks = Seeks()
        intake = intake_for(app, seeks=seeks)
        consumer = app.consumer
        tp = TP("responses", 0)
        await anchored(intake, {tp: 0})
        await intake.divert(consumer, {tp: fetched("responses", 0, [0, 1])}, None)
        assert not consumer._unacked_messages  # queued, not taken: nothing to wait for
        (chunk,) = intake.take("responses", 100)
        assert len(consumer._unacked_messages) == 1  # faust's wait_empty waits for it
        intake.release([chunk])  # its batch failed: not acked, not waited for
        assert not consumer._unacked_messages
        assert consumer._new_offset(tp) is None
        await asyncio.sleep(0)
        assert seeks.calls[-1] == {tp: 0}  # read again at once

    asyncio.run(go())


def test_a_released_chunk_holds_the_commit_back_though_later_ones_are_acked(app):
    """faust commits the first unbroken run of acked offsets when a partition has no committed
    offset, wherever it starts: a later chunk's ack must not let it pass a failed one."""

    async def go() -> None:
        seeks = Seeks()
        intake = intake_for(app, seeks=seeks)
        consumer = app.consumer
        tp = TP("prompts", 0)
        await anchored(intake, {tp: None})
        await intake.divert(consumer, {tp: fetched("prompts", 0, list(range(8)))}, None)
        failed = intake.take("prompts", 4)
        later = intake.take("prompts", 4)
        intake.release(failed)
        intake.ack(later)
        assert consumer._new_offset(tp) is None
        await asyncio.sleep(0)
        assert seeks.calls[-1] == {tp: 0}
        # the fetcher reads the partition again from 0
        await intake.divert(
            consumer, {tp: fetched("prompts", 0, list(range(8)))}, None, intake.seek_serial
        )
        intake.ack(intake.take("prompts", 4))
        assert consumer._new_offset(tp) == 8

    asyncio.run(go())


def test_other_topics_go_on_to_faust_and_inactive_partitions_are_left_alone(app):
    async def go() -> None:
        intake = intake_for(app)
        consumer = app.consumer
        prompts, paused = TP("prompts", 0), TP("prompts", 1)
        changelog = TP("group-conversations-changelog", 0)
        await anchored(intake, {prompts: None, paused: None, changelog: None})
        records = {
            prompts: fetched("prompts", 0, [0]),
            paused: fetched("prompts", 1, [0]),
            changelog: fetched(changelog.topic, 0, [0, 1]),
        }
        rest = await intake.divert(consumer, records, {prompts, changelog})
        assert list(rest) == [changelog]
        assert [c.tp for c in intake.take("prompts", 100)] == [prompts]
        assert intake.rewinds == 1  # the paused partition's record is read again later

    asyncio.run(go())


def test_a_rebalance_drops_what_was_queued_and_nothing_is_queued_until_the_next_anchor(app):
    async def go() -> None:
        seeks = Seeks()
        intake = intake_for(app, seeks=seeks)
        consumer = app.consumer
        tp = TP("prompts", 0)
        await anchored(intake, {tp: 0})
        await intake.divert(consumer, {tp: fetched("prompts", 0, [0, 1])}, None)
        app.rebalancing = True
        app.flow_control.suspend()
        app.flow_control.clear()  # what faust does when partitions are revoked
        assert intake.queued("prompts") == 0
        app.flow_control.resume()  # during recovery
        await intake.divert(consumer, {tp: fetched("prompts", 0, [2])}, None)
        assert intake.queued("prompts") == 0  # fetched from wherever aiokafka was: dropped
        await anchored(intake, {tp: 0})
        app.rebalancing = False
        assert seeks.calls[-1] == {tp: 0}
        await intake.divert(consumer, {tp: fetched("prompts", 0, [0, 1, 2])}, None)
        assert intake.queued("prompts") == 3

    asyncio.run(go())


def test_records_fetched_after_the_anchor_survive_faust_resuming_the_flow(app):
    """Seen in CI: faust seeks, the fetcher queues a partition's whole backlog, then faust
    resumes the flow, which clears every managed queue; that backlog was never read again."""

    async def go() -> None:
        intake = intake_for(app)
        consumer = app.consumer
        tp = TP("prompts", 0)
        app.flow_control.suspend()
        await anchored(intake, {tp: 10})
        await intake.divert(consumer, {tp: fetched("prompts", 0, [10, 11, 12])}, None)
        app.flow_control.resume()  # mode's resume() clears the queues it manages
        chunks = intake.take("prompts", 100)
        assert [r.offset for c in chunks for r in c.records] == [10, 11, 12]
        intake.ack(chunks)
        consumer._committed_offset[tp] = 10
        assert consumer._new_offset(tp) == 13

    asyncio.run(go())


def test_partitions_with_no_committed_offset_are_sought_to_their_first_offset(app):
    """aiokafka's seek to the committed offsets leaves such a partition where it was."""

    async def go() -> None:
        seeks = Seeks(first=40)
        intake = intake_for(app, seeks=seeks)
        fresh, committed = TP("prompts", 0), TP("prompts", 1)
        changelog = TP("group-conversations-changelog", 0)
        await anchored(intake, {fresh: None, committed: 7, changelog: None})
        assert seeks.calls == [{fresh: 40, committed: 7}]
        assert intake.position == {fresh: 40, committed: 7}

    asyncio.run(go())


def test_after_a_broker_reset_the_first_anchor_starts_at_the_first_offsets_and_faust_commits(
    app,
):
    """A worker started over on a broker that came back empty: the committed offsets may be
    past records nobody scanned, so its first anchor ignores them, and faust, told nothing is
    committed, commits the acks from the first offset on (not only once they pass the old
    offsets). Later anchors use the committed offsets again."""

    async def go() -> None:
        seeks = Seeks(first=0)
        intake = intake_for(app, seeks=seeks)
        consumer = app.consumer
        tp = TP("prompts", 0)
        consumer._committed_offset[tp] = 50  # faust's perform_seek stored the committed offset
        consumer._read_offset[tp] = 50
        intake.rewind_next_anchor = True
        await anchored(intake, {tp: 50})
        assert seeks.calls == [{tp: 0}]
        assert intake.position == {tp: 0}
        assert consumer._committed_offset[tp] is None
        assert consumer._read_offset[tp] is None
        await intake.divert(consumer, {tp: fetched("prompts", 0, list(range(8)))}, None)
        intake.ack(intake.take("prompts", 100))
        assert consumer._filter_committable_offsets([tp]) == {tp: 8}
        await anchored(intake, {tp: 8})
        assert seeks.calls[-1] == {tp: 8}

    asyncio.run(go())


def test_a_fetch_that_began_before_a_seek_is_no_proof_of_a_gap(app):
    """A fetch in transit across a seek may hold records from the old position: if they skip
    ahead they are dropped and the partition is sought back, not acked as a gap."""

    async def go() -> None:
        seeks = Seeks()
        intake = intake_for(app, seeks=seeks)
        consumer = app.consumer
        tp = TP("prompts", 0)
        began = intake.seek_serial
        await anchored(intake, {tp: 100})
        await intake.divert(consumer, {tp: fetched("prompts", 0, [160, 161])}, None, began)
        assert intake.queued("prompts") == 0
        await asyncio.sleep(0)
        assert seeks.calls[-1] == {tp: 100}
        await intake.divert(consumer, {tp: fetched("prompts", 0, [100, 101])}, None)
        assert [r.offset for c in intake.take("prompts", 100) for r in c.records] == [100, 101]

    asyncio.run(go())


def test_acks_from_before_an_anchor_count_only_from_the_committed_offset(app):
    async def go() -> None:
        intake = intake_for(app)
        consumer = app.consumer
        tp = TP("prompts", 0)
        await anchored(intake, {tp: 0})
        await intake.divert(consumer, {tp: fetched("prompts", 0, list(range(12)))}, None)
        early, middle, late = (intake.take("prompts", 4) for _ in range(3))
        # a rebalance while they are in flight; the partition comes back committed at 4
        app.flow_control.suspend()
        app.flow_control.clear()
        app.flow_control.resume()
        consumer._acked.pop(tp, None)
        await anchored(intake, {tp: 4})
        consumer._committed_offset[tp] = 4
        intake.ack(early)  # below the committed offset: nothing new
        intake.ack(late)  # 8-11: waits for 4-7
        assert consumer._new_offset(tp) is None
        intake.ack(middle)
        assert consumer._new_offset(tp) == 12

    asyncio.run(go())


def test_a_partition_never_anchored_outside_a_rebalance_is_sought_rather_than_left_to_stall(app):
    async def go() -> None:
        seeks = Seeks()
        intake = intake_for(app, seeks=seeks)
        consumer = app.consumer
        tp = TP("prompts", 0)
        consumer.assignment = lambda: {tp}

        async def perform_seek() -> None:  # faust's, as divert_fetches wraps it
            await intake.anchor(consumer, {tp: 3})

        consumer.perform_seek = perform_seek
        intake.seeks_under_way = 1  # faust is seeking: the anchor is on its way
        await intake.divert(consumer, {tp: fetched("prompts", 0, [5, 6])}, None)
        await asyncio.sleep(0)
        assert seeks.calls == []
        intake.seeks_under_way = 0
        await intake.divert(consumer, {tp: fetched("prompts", 0, [5, 6])}, None)
        assert intake.queued("prompts") == 0
        await asyncio.sleep(0)
        assert seeks.calls == [{tp: 3}]
        await intake.divert(consumer, {tp: fetched("prompts", 0, [3, 4, 5, 6])}, None)
        assert intake.queued("prompts") == 4

    asyncio.run(go())


def test_a_full_queue_holds_the_fetcher_until_the_agent_takes_or_a_rebalance_clears_it(app):
    async def go() -> None:
        seeks = Seeks()
        intake = intake_for(app, max_queued=4, seeks=seeks)
        consumer = app.consumer
        tp = TP("prompts", 0)
        await anchored(intake, {tp: 0})
        await intake.divert(consumer, {tp: fetched("prompts", 0, [0, 1, 2, 3])}, None)
        offer = asyncio.ensure_future(
            intake.divert(consumer, {tp: fetched("prompts", 0, [4, 5])}, None)
        )
        await asyncio.sleep(0.01)
        assert not offer.done()  # faust stops fetching, as with a full stream buffer
        assert len(intake.take("prompts", 4)) == 1
        await asyncio.wait_for(offer, 1)
        assert intake.queued("prompts") == 2

        await intake.divert(consumer, {tp: fetched("prompts", 0, [6, 7])}, None)
        blocked = asyncio.ensure_future(
            intake.divert(consumer, {tp: fetched("prompts", 0, [8])}, None)
        )
        await asyncio.sleep(0.01)
        app.flow_control.suspend()
        consumer.stop_flow()
        app.flow_control.clear()
        await asyncio.wait_for(blocked, 1)  # woken, and its records dropped
        assert intake.queued("prompts") == 0
        await asyncio.sleep(0)
        assert seeks.calls == [{tp: 0}]  # no seek in a rebalance: the anchor after it seeks
        assert tp not in intake.position

    asyncio.run(go())


def test_a_batch_is_cut_at_chunk_boundaries_within_its_limit(app):
    async def go() -> None:
        intake = intake_for(app, chunk_records=3)
        consumer = app.consumer
        await anchored(intake, {TP("prompts", 0): 0, TP("prompts", 1): 0})
        await intake.divert(
            consumer,
            {
                TP("prompts", 0): fetched("prompts", 0, list(range(6))),
                TP("prompts", 1): fetched("prompts", 1, list(range(2))),
            },
            None,
        )
        assert sum(len(c.records) for c in intake.take("prompts", 5)) == 3
        assert sum(len(c.records) for c in intake.take("prompts", 5)) == 5
        assert intake.take("prompts", 5) == []

    asyncio.run(go())
