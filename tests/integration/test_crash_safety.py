"""At-least-once under crashes, graceful stops and consumer-group moves, on the real broker.

A verdict is published and acknowledged by the broker before its input offset may be committed,
so killing a worker at any moment loses nothing: what was not committed is scanned again (a
duplicate verdict, counted and printed here), never skipped.
"""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time

import orjson
import pytest

from tests.conftest import TopicWatcher, WorkerProcess, make_topic_set, produce, sample_texts

pytestmark = pytest.mark.integration


def _events(prefix: str, count: int, seed: int) -> list[tuple[str, bytes, str]]:
    rng = random.Random(seed)
    texts = sample_texts()
    out = []
    for index in range(count):
        event_id = f"{prefix}-{index:05d}"
        out.append((event_id, orjson.dumps({"id": event_id, "text": rng.choice(texts)}), ""))
    return out


def _publish_in_background(settings, events, chunks: int, pause: float) -> threading.Thread:
    """Publish in chunks with pauses, so the events keep flowing while the test interferes."""

    def run() -> None:
        size = max(1, len(events) // chunks)
        for start in range(0, len(events), size):
            chunk = events[start : start + size]
            asyncio.run(
                produce(
                    settings,
                    [(settings.topics.prompts, body) for _, body, _ in chunk],
                    keys=[event_id.encode() for event_id, _, _ in chunk],
                )
            )
            time.sleep(pause)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _report(name: str, **figures: object) -> None:
    print(f"\n[{name}] " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def test_sigkill_three_times_loses_nothing(broker, tmp_path) -> None:
    topics = make_topic_set(broker.bootstrap, partitions=6, cache_dir=str(tmp_path / "cache"))
    settings = topics.settings
    events = _events("crash", 20_000, seed=11)
    wanted = {event_id for event_id, _, _ in events}
    rng = random.Random(2026)
    kill_at = sorted(rng.sample(range(2_000, 17_000), 3))

    worker = WorkerProcess(topics).start()
    watcher = TopicWatcher(settings, settings.topics.verdicts)
    publisher = _publish_in_background(settings, events, chunks=40, pause=0.25)
    restarts = []
    try:
        for threshold in kill_at:
            watcher.wait_for(lambda t=threshold: len(watcher.ids) >= t, 300, f"{threshold} ids")
            assert worker.kill() == -signal.SIGKILL
            began = time.monotonic()
            worker = WorkerProcess(topics).start()
            restarts.append(round(time.monotonic() - began, 1))
        publisher.join(timeout=300)
        missing = watcher.wait_for_ids(wanted, timeout_seconds=300)
        duplicates = watcher.duplicates(wanted)
        _report(
            "sigkill x3",
            events=len(wanted),
            lost=len(missing),
            duplicates=duplicates,
            kills_at_verdicts=kill_at,
            restart_ready_s=restarts,
        )
        assert not missing, f"{len(missing)} events have no verdict, e.g. {sorted(missing)[:5]}"
        assert worker.process.poll() is None
    finally:
        watcher.close()
        worker.stop()


def test_sigterm_finishes_the_batch_commits_and_exits_zero(broker, tmp_path) -> None:
    grace = 20.0
    topics = make_topic_set(
        broker.bootstrap,
        partitions=3,
        cache_dir=str(tmp_path / "cache"),
        **{"kafka.shutdown_grace_seconds": str(grace)},
    )
    settings = topics.settings
    events = _events("term", 4_000, seed=5)
    wanted = {event_id for event_id, _, _ in events}
    watcher = TopicWatcher(settings, settings.topics.verdicts)
    worker = WorkerProcess(topics).start()
    try:
        publisher = _publish_in_background(settings, events, chunks=8, pause=0.3)
        watcher.wait_for(lambda: len(watcher.ids) >= 500, 120, "500 verdicts")
        worker.signal(signal.SIGTERM)
        began = time.monotonic()
        code = worker.process.wait(timeout=grace + 10)
        stopped_in = time.monotonic() - began
        assert code == 0, worker.stderr_text()[-2000:]
        assert stopped_in <= grace
        publisher.join(timeout=120)

        # A fresh worker in the same group carries on from the committed offsets.
        seen_at_stop = set(watcher.ids)
        with WorkerProcess(topics):
            missing = watcher.wait_for_ids(wanted, timeout_seconds=180)
        duplicates = watcher.duplicates(wanted)
        _report(
            "sigterm",
            events=len(wanted),
            verdicts_before_stop=len(seen_at_stop),
            stop_seconds=round(stopped_in, 1),
            lost=len(missing),
            duplicates=duplicates,
        )
        assert not missing
        # Graceful means committed: nothing the first worker delivered is scanned again.
        assert duplicates == 0
    finally:
        watcher.close()
        worker.stop()


def test_three_workers_one_killed_its_partitions_move_nothing_lost(broker, tmp_path) -> None:
    topics = make_topic_set(broker.bootstrap, partitions=6, cache_dir=str(tmp_path / "cache"))
    settings = topics.settings
    events = _events("group", 6_000, seed=3)
    wanted = {event_id for event_id, _, _ in events}
    workers = [WorkerProcess(topics) for _ in range(3)]
    for worker in workers:
        worker.start_async()
    for worker in workers:
        worker.wait_ready(120)
    watcher = TopicWatcher(settings, settings.topics.verdicts)
    try:
        publisher = _publish_in_background(settings, events, chunks=12, pause=0.3)
        watcher.wait_for(lambda: len(watcher.ids) >= 1_500, 180, "1500 verdicts")
        assert workers[1].kill() == -signal.SIGKILL
        publisher.join(timeout=180)
        missing = watcher.wait_for_ids(wanted, timeout_seconds=240)
        duplicates = watcher.duplicates(wanted)
        _report(
            "group of 3, one killed", events=len(wanted), lost=len(missing), duplicates=duplicates
        )
        assert not missing
        assert all(w.process.poll() is None for w in (workers[0], workers[2]))
    finally:
        watcher.close()
        for worker in workers:
            worker.stop()
