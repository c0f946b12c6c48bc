"""The intake hands the input topics' records over in chunks and acks them by offset range into
faust's own bookkeeping: what faust then commits, waits for and drops must be what it would for
events of its stream. A real (unstarted) faust app and consumer; fetched records are faked."""

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


def intake_for(app: faust.App, max_queued: int = 100, chunk_records: int = 4) -> Intake:
    return Intake(app, ["prompts", "responses"], max_queued=max_queued, chunk_records=chunk_records)


def test_acked_chunks_become_faust_commit_offsets_and_unacked_ones_hold_the_commit_back(app):
    async def go() -> None:
        intake = intake_for(app)
        consumer = app.consumer
        tp = TP("prompts", 0)
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
        await intake.divert(consumer, {tp: fetched("prompts", 1, [0, 1, 2])}, None)
        # 3 and 4 are transaction markers (no records); the next fetch starts at 5
        await intake.divert(consumer, {tp: fetched("prompts", 1, [5, 6])}, None)
        intake.ack(intake.take("prompts", 100))
        assert consumer._new_offset(tp) == 7

    asyncio.run(go())


def test_a_chunk_in_flight_is_waited_for_by_faust_until_acked_or_released(app):
    async def go() -> None:
        intake = intake_for(app)
        consumer = app.consumer
        tp = TP("responses", 0)
        await intake.divert(consumer, {tp: fetched("responses", 0, [0, 1])}, None)
        assert not consumer._unacked_messages  # queued, not taken: nothing to wait for
        (chunk,) = intake.take("responses", 100)
        assert len(consumer._unacked_messages) == 1  # faust's wait_empty waits for it
        intake.release([chunk])  # its batch failed: not acked, not waited for
        assert not consumer._unacked_messages
        assert consumer._new_offset(tp) is None

    asyncio.run(go())


def test_other_topics_go_on_to_faust_and_inactive_partitions_are_left_alone(app):
    async def go() -> None:
        intake = intake_for(app)
        consumer = app.consumer
        prompts, paused = TP("prompts", 0), TP("prompts", 1)
        changelog = TP("group-conversations-changelog", 0)
        records = {
            prompts: fetched("prompts", 0, [0]),
            paused: fetched("prompts", 1, [0]),
            changelog: fetched(changelog.topic, 0, [0, 1]),
        }
        rest = await intake.divert(consumer, records, {prompts, changelog})
        assert list(rest) == [changelog]
        assert [c.tp for c in intake.take("prompts", 100)] == [prompts]

    asyncio.run(go())


def test_chunks_fetched_before_a_rebalance_are_dropped_and_read_again(app):
    async def go() -> None:
        intake = intake_for(app)
        consumer = app.consumer
        tp = TP("prompts", 0)
        await intake.divert(consumer, {tp: fetched("prompts", 0, [0, 1])}, None)
        app.consumer_generation_id += 1  # a rebalance: faust seeks back to the committed offsets
        assert intake.take("prompts", 100) == []
        await intake.divert(consumer, {tp: fetched("prompts", 0, [2])}, None)
        app.flow_control.suspend()
        app.flow_control.clear()  # what faust does when partitions are revoked
        assert intake.queued("prompts") == 0

    asyncio.run(go())


def test_a_full_queue_holds_the_fetcher_until_the_agent_takes_or_a_rebalance_clears_it(app):
    async def go() -> None:
        intake = intake_for(app, max_queued=4)
        consumer = app.consumer
        tp = TP("prompts", 0)
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

    asyncio.run(go())


def test_a_batch_is_cut_at_chunk_boundaries_within_its_limit(app):
    async def go() -> None:
        intake = intake_for(app, chunk_records=3)
        consumer = app.consumer
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
