"""Broker faults: paused for 15 s, and killed and started again empty on the same port.

Each test owns its broker (the session broker is shared by every other test).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from llm_shield.streams.broker import EmbeddedBroker, free_port
from llm_shield.streams.kafka import ensure_topics
from llm_shield.streams.worker import REWIND_ENV
from tests.conftest import (
    TopicSet,
    TopicWatcher,
    WorkerProcess,
    make_topic_set,
    produce,
    read_all,
    read_json,
)
from tests.integration.test_crash_safety import _events, _publish_in_background, _report

pytestmark = pytest.mark.integration


def test_broker_paused_for_15_seconds_loses_nothing(tmp_path: Path) -> None:
    with EmbeddedBroker(port=0, log_path=tmp_path / "tansu.log") as broker:
        topics = make_topic_set(broker.bootstrap, partitions=3, cache_dir=str(tmp_path / "cache"))
        settings = topics.settings
        events = _events("pause", 3_000, seed=9)
        wanted = {event_id for event_id, _, _ in events}
        worker = WorkerProcess(topics).start()
        watcher = TopicWatcher(settings, settings.topics.verdicts)
        try:
            publisher = _publish_in_background(settings, events, chunks=10, pause=1.0)
            watcher.wait_for(lambda: len(watcher.ids) >= 300, 120, "300 verdicts")
            os.kill(broker.pid, signal.SIGSTOP)
            paused_with = len(watcher.ids)
            time.sleep(15)
            os.kill(broker.pid, signal.SIGCONT)
            resumed = time.monotonic()
            watcher.wait_for(lambda: len(watcher.ids) > paused_with, 120, "a verdict after")
            recovery = time.monotonic() - resumed
            publisher.join(timeout=180)
            missing = watcher.wait_for_ids(wanted, timeout_seconds=180)
            duplicates = watcher.duplicates(wanted)
            _report(
                "broker paused 15 s",
                events=len(wanted),
                lost=len(missing),
                duplicates=duplicates,
                first_verdict_after_resume_s=round(recovery, 1),
            )
            assert not missing
            assert worker.process.poll() is None, worker.stderr_text()[-3000:]
        finally:
            watcher.close()
            worker.stop()


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


@pytest.mark.parametrize("watch_seconds", ["1", "8"], ids=["watch-1s", "watch-8s"])
def test_broker_restarted_empty_on_the_same_port(tmp_path: Path, watch_seconds: str) -> None:
    """The worker must not write to the new broker before it knows it is a new one. With the
    watch every 8 s it once reconnected first and wrote verdicts with the old broker's
    metadata: Tansu stored them under topics it did not have, the topics made afterwards
    started at offset 0 over them, and later verdicts landed on offsets readers skip (CI: 7 of
    300 lost; 1 run in 2 here). Before that, the old process committed past records it had
    dropped (74 of 300 lost) until the worker started over read its first partitions from the
    beginning. The watch's connection to the broker now sees it go at once, and outputs wait
    until a check says whether it is the same broker."""
    port = free_port()
    first = EmbeddedBroker(port=port, log_path=tmp_path / "tansu-1.log").start()
    topics = make_topic_set(
        first.bootstrap,
        partitions=3,
        cache_dir=str(tmp_path / "cache"),
        **{"kafka.watch_interval_seconds": watch_seconds},
    )
    settings = topics.settings
    worker = WorkerProcess(topics).start()
    second = None
    try:
        before = _events("before", 300, seed=1)
        asyncio.run(produce(settings, [(settings.topics.prompts, body) for _, body, _ in before]))
        assert len(read_json(settings, settings.topics.verdicts, 300)) == 300

        # The worker commits within kafka.commit_interval_seconds and the watch looks every
        # second: let it see the group's committed offsets once before the broker goes (the
        # README states this window).
        time.sleep(3)
        first.stop()
        time.sleep(3)  # the worker notices the broker is gone
        second = EmbeddedBroker(port=port, log_path=tmp_path / "tansu-2.log").start()
        began = time.monotonic()
        after = _events("after", 300, seed=2)
        asyncio.run(produce(settings, [(settings.topics.prompts, body) for _, body, _ in after]))
        wanted = {event_id for event_id, _, _ in after}
        # Read until every id came, not until 300 records did: delivery is at least once (when
        # the old process scanned on the new broker, the rewind scanned it again: 217 of 300).
        watcher = TopicWatcher(settings, settings.topics.verdicts)
        try:
            missing = watcher.wait_for_ids(wanted, timeout_seconds=120)
            duplicates = watcher.duplicates(wanted)
        finally:
            watcher.close()
        recovery = time.monotonic() - began
        _report(
            f"broker restarted empty, watch every {watch_seconds} s",
            events_after=len(wanted),
            lost=len(missing),
            duplicates=duplicates,
            recovery_s=round(recovery, 1),
            restarts=worker.stderr_text().count("restarting the worker"),
        )
        assert "restarting the worker" in worker.stderr_text()
        assert "topics from the beginning" in worker.stderr_text()
        assert not missing, worker.stderr_text()[-3000:]
        assert settings.topics.deadletter in asyncio.run(_topics(second.bootstrap))
        assert worker.process.poll() is None
    finally:
        worker.stop()
        if second is not None:
            second.stop()
        first.stop()


async def _commit_halfway(settings, records: list) -> int:
    """Commit, for the worker's group, half of each prompts partition: what a run holding read
    offsets from an old broker leaves on the new one (faust drops the records below them).
    The ends come from the records read (Tansu's ListOffsets answers per batch, not record)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    ends: dict[int, int] = {}
    for record in records:
        ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
    halfway = {TopicPartition(settings.topics.prompts, p): end // 2 for p, end in ends.items()}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.broker, group_id=settings.group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(halfway))
        await consumer.commit(halfway)
        return sum(halfway.values())
    finally:
        await consumer.stop()


def test_a_worker_started_over_after_a_reset_reads_the_new_broker_from_the_beginning(
    topic_set,
) -> None:
    settings = topic_set.settings
    asyncio.run(ensure_topics(settings))
    events = _events("rewind", 300, seed=3)
    asyncio.run(produce(settings, [(settings.topics.prompts, body) for _, body, _ in events]))
    records = read_all(settings, settings.topics.prompts, 300)
    passed = asyncio.run(_commit_halfway(settings, records))
    assert passed > 100
    # The hand-off ``restart_process(rewind=True)`` leaves for the process it becomes.
    started_over = TopicSet(settings=settings, env={**topic_set.env, REWIND_ENV: "1"})
    watcher = TopicWatcher(settings, settings.topics.verdicts)
    worker = WorkerProcess(started_over).start()
    try:
        missing = watcher.wait_for_ids({event_id for event_id, _, _ in events}, 120)
        assert not missing, worker.stderr_text()[-3000:]
        assert f"had passed {passed} records" in worker.stderr_text()
    finally:
        watcher.close()
        worker.stop()
