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
from tests.conftest import TopicWatcher, WorkerProcess, make_topic_set, produce, read_json
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


def test_broker_restarted_empty_on_the_same_port(tmp_path: Path) -> None:
    port = free_port()
    first = EmbeddedBroker(port=port, log_path=tmp_path / "tansu-1.log").start()
    topics = make_topic_set(
        first.bootstrap,
        partitions=3,
        cache_dir=str(tmp_path / "cache"),
        **{"kafka.watch_interval_seconds": "1"},
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
        verdicts = read_json(settings, settings.topics.verdicts, 300, timeout_seconds=120)
        recovery = time.monotonic() - began
        got = {v["id"] for v in verdicts}
        wanted = {event_id for event_id, _, _ in after}
        _report(
            "broker restarted empty",
            events_after=len(wanted),
            lost=len(wanted - got),
            recovery_s=round(recovery, 1),
            restarts=worker.stderr_text().count("restarting the worker"),
        )
        assert "restarting the worker" in worker.stderr_text()
        assert wanted <= got, worker.stderr_text()[-3000:]
        assert settings.topics.deadletter in asyncio.run(_topics(second.bootstrap))
        assert worker.process.poll() is None
    finally:
        worker.stop()
        if second is not None:
            second.stop()
        first.stop()
