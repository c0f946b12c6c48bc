"""``llm-shield bench``: throughput and latency of the same models, side by side in one run.

It compares the bare multi-task graph, the one-text-at-a-time way guardrail libraries scan (each
scanner's own model, batch size 1), the offline pipeline, and the worker on the embedded broker
(cold, then all cache hits, then latency at half load). Numbers only; no thresholds are asserted
anywhere, because these machines are shared and noisy: compare ratios from one run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from llm_shield.registry.errors import ShieldError

LOW_LOAD_EVENTS_PER_S = 20.0


class BenchError(ShieldError):
    exit_code = 4


def _progress(total: int, label: str):  # noqa: ANN202 - tqdm's type
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="ev", file=sys.stderr, disable=None, leave=False)


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def build_events(count: int, *, repeat_fraction: float = 0.1, seed: int = 7) -> list[dict]:
    """Prompts and responses from the packaged corpora, with their real length distribution."""
    from llm_shield.ops.build_models import load_sentiment, locate_assets
    from llm_shield.ops.corpus import read_csv_rows

    assets = locate_assets()
    prompts = [
        row["text"].strip()
        for row in read_csv_rows(assets.s_labs_dir / "test.csv")
        if (row.get("text") or "").strip()
    ]
    responses = load_sentiment(assets)["test"].texts
    rng = random.Random(seed)
    events: list[dict] = []
    for index in range(count):
        if events and rng.random() < repeat_fraction:
            text = rng.choice(events)["text"]
            kind = "prompt"
        elif index % 3 == 2:
            text, kind = rng.choice(responses), "response"
        else:
            text, kind = rng.choice(prompts), "prompt"
        events.append({"id": f"bench-{index}", "kind": kind, "text": text})
    return events


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def raw_model(settings: Any, texts: Sequence[str], kinds: Sequence[str]) -> float:
    """The multi-task graph alone on the stream's own texts, built and fed as the worker does:
    the same session options and threads, the same batch limits, the same sentence windows for
    responses (and for prompts long enough to be read as documents), tokenisation included.
    The ceiling the replay and the worker are compared to."""
    from llm_shield.streams.scanner_set import ScannerSet

    scanners = ScannerSet(settings)
    group = next(iter(scanners.groups.values()), None)
    if group is None or group.classifier is None:
        raise BenchError(f"the model did not load: {group.error if group else 'no model'}")
    classifier = group.classifier
    sentences = scanners.sentence_windows(scanners.read_as(texts, kinds))
    batch = settings.batching.max_batch_size
    classifier.run(texts[:batch], sentences[:batch])  # warm-up: first-run allocations
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        classifier.run(texts[start : start + batch], sentences[start : start + batch])
    return _rate(len(texts), time.perf_counter() - started)


class OneAtATime:
    """Each scanner's own model, one text at a time, one scanner after another: how request-path
    guardrails scan. Loaded once, so that it can be timed again beside each paired round."""

    def __init__(self, home: Path, variant: str, threads: int) -> None:
        from llm_shield.models.classifier import OnnxClassifier
        from llm_shield.registry.bootstrap import resolve_model

        self.classifiers = []
        for task in ("prompt_injection", "toxicity", "sentiment"):
            resolved = resolve_model(home, f"{task}/starter-minilm", variant)
            self.classifiers.append(
                OnnxClassifier(
                    resolved.entry, resolved.folder, max_batch_size=1, intra_op_threads=threads
                )
            )

    def rate(self, texts: Sequence[str], kinds: Sequence[str] | None = None) -> float:
        """Texts/s. Given ``kinds``, responses are also read sentence by sentence by the
        injection and toxicity models, as the worker reads them (sentiment takes the whole
        text's windows only): the same work as the stream, one text at a time."""
        windows = [kind == "response" for kind in kinds] if kinds is not None else None
        for classifier in self.classifiers:
            classifier.run(list(texts[:1]))  # warm-up: first-run allocations
        started = time.perf_counter()
        for index, text in enumerate(texts):
            for task, classifier in enumerate(self.classifiers):
                if windows is not None and windows[index] and task < 2:
                    classifier.run([text], [True])
                else:
                    classifier.run([text])
        return _rate(len(texts), time.perf_counter() - started)


def adversarial_texts(size: int = 64 * 1024) -> dict[str, str]:
    """Inputs built to make regular expressions backtrack: long runs of what patterns match
    partly (repeated keywords, spaced letters, digits, address-like and base64-like runs)."""
    rng = random.Random(13)
    unit = {
        "one letter": "a",
        "spaces": " ",
        "ignore words": "ignore previous ",
        "spaced letters": "i g n o r e ",
        "leetspeak": "1gn0r3 ",
        "digits and spaces": "1 ",
        "digit groups": "4111-",
        "dots and at": "a.",
        "at signs": "@",
        "base64-like": "QUJDRA==",
        "character references": "&#73;",
        "brackets": "[<|",
        "insults without end": "you stupid ",
    }
    texts = {name: (piece * (size // len(piece) + 1))[:size] for name, piece in unit.items()}
    texts["random unicode"] = "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(size // 2))
    texts["ignore then junk"] = "ignore " + "x" * (size - 7)
    return texts


def slowest_input(texts: dict[str, str] | None = None) -> dict[str, Any]:
    """The slowest 64 KiB adversarial input for each heuristic scanner and for redaction: linear
    patterns keep these in milliseconds; catastrophic backtracking would show as seconds."""
    from llm_shield.streams.heuristics import (
        HeuristicPromptInjection,
        HeuristicSentiment,
        HeuristicToxicity,
    )
    from llm_shield.streams.privacy import redact

    texts = texts or adversarial_texts()
    checks: dict[str, Callable[[str], Any]] = {
        "prompt_injection": HeuristicPromptInjection().scan,
        "toxicity": HeuristicToxicity().scan,
        "sentiment": HeuristicSentiment().scan,
        "redact": redact,
    }
    report: dict[str, Any] = {}
    for name, check in checks.items():
        worst, worst_input = 0.0, ""
        for label, text in texts.items():
            started = time.perf_counter()
            check(text)
            elapsed = (time.perf_counter() - started) * 1000
            if elapsed > worst:
                worst, worst_input = elapsed, label
        report[name] = {"ms": round(worst, 1), "input": worst_input}
    return report


def _bench_pipeline(settings: Any, *, context: bool = False) -> Any:
    """A pipeline as the replay builds it; ``context`` adds what the worker keeps beside it
    (tenant policies, conversation state, stats windows), as the worker builds them."""
    from llm_shield.streams.pipeline import Pipeline

    if not context:
        return Pipeline(settings)
    from llm_shield.streams.conversation import ConversationBook
    from llm_shield.streams.stats import WindowedStats
    from llm_shield.streams.tenant_policy import PolicyBook

    return Pipeline(
        settings,
        policies=PolicyBook(settings),
        conversations=ConversationBook(settings.conversations),
        windows=WindowedStats(settings.stats.window_seconds),
    )


def _pipeline_rows(pipeline: Any) -> dict[str, Any]:
    """The pipeline's counters a context case pays for: model rows, joined texts scored, and
    the time its parts took, timed inside the pipeline (``in_pipeline_cost``: what the context
    parts add to the rest of the scan; steadier than two pipelines timed against each other,
    whose rounds scatter more than the cost itself)."""
    counted = pipeline.stats
    return {
        "model_rows": pipeline.scanners.stats.model_rows,
        "joined_scored": counted.joined_scored,
        "joined_skipped": counted.joined_skipped,
        "escalations": counted.escalations,
        **_in_pipeline(counted.seconds),
    }


def _in_pipeline(seconds: dict[str, float]) -> dict[str, Any]:
    """From a pipeline's seconds per part (``scan`` the whole): what the context parts add to
    the rest of the scan, and each part's share of it."""
    scan = seconds.get("scan", 0.0)
    context = sum(value for part, value in seconds.items() if part != "scan")
    rest = scan - context
    return {
        "in_pipeline_cost": round(context / rest, 4) if rest > 0 else 0.0,
        "in_pipeline_shares": {
            part: round(value / scan, 4) if scan else 0.0
            for part, value in seconds.items()
            if part != "scan"
        },
    }


def _worker_in_pipeline(port: int) -> dict[str, Any]:
    """The same figures from a running worker's own timers
    (``llm_shield_pipeline_seconds_total``), over everything it has scanned."""
    prefix = 'llm_shield_pipeline_seconds_total{part="'
    seconds = {
        name[len(prefix) : -2]: value
        for name, value in _scrape(port).items()
        if name.startswith(prefix)
    }
    return _in_pipeline(seconds)


def replay_rate(settings: Any, events: Sequence[dict]) -> float:
    """Replay events/s: the offline pipeline over ``events``, verdicts built and dropped."""
    from llm_shield.streams.replay import replay_lines

    lines = [orjson.dumps(e) for e in events]
    summary = replay_lines(_bench_pipeline(settings), lines, write_verdict=lambda _: None)
    return summary.events_per_s


def replay_interleaved(
    pipelines: dict[str, Any], events: dict[str, Sequence[dict]]
) -> dict[str, tuple[float, float]]:
    """Events/s and CPU milliseconds per event of each pipeline on its own events (the same
    texts), replayed batch by batch in turn: every pipeline takes the same batch before the
    next batch starts, and the order rotates with each batch. Runs of whole passes one after
    another saw this machine change speed between them by a fifth; here each batch's figures
    for all pipelines fall in the same fraction of a second."""
    from llm_shield.streams.events import RawRecord

    names = list(pipelines)
    size = next(iter(pipelines.values())).settings.batching.max_batch_size
    lines = {name: [orjson.dumps(e) for e in events[name]] for name in names}
    count = len(lines[names[0]])
    seconds = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)
    for number, start in enumerate(range(0, count, size)):
        turn = number % len(names)
        for name in names[turn:] + names[:turn]:
            records = [
                RawRecord(value=line, source_topic="replay", offset=start + offset)
                for offset, line in enumerate(lines[name][start : start + size])
            ]
            began, began_cpu = time.perf_counter(), time.process_time()
            for outcome in pipelines[name].process(records):
                outcome.to_json()
            seconds[name] += time.perf_counter() - began
            cpu[name] += time.process_time() - began_cpu
    return {
        name: (_rate(count, seconds[name]), round(cpu[name] * 1000 / max(1, count), 3))
        for name in names
    }


class _Worker:
    """An ``llm-shield`` command in its own process (the worker, or the HTTP gateway), ready
    once its stderr says so."""

    def __init__(
        self,
        env: dict[str, str],
        command: str = "worker",
        ready_text: str = "ready in",
        args: Sequence[str] = (),
    ) -> None:
        self.command = command
        self.ready_text = ready_text
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llm_shield.ops.cli", command, *args],
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.ready = threading.Event()
        self.lines: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if self.ready_text in line:
                self.ready.set()

    def wait(self, seconds: float = 120) -> None:
        if not self.ready.wait(seconds):
            self.stop()
            raise BenchError(
                f"bench {self.command} did not start: " + "".join(self.lines[-5:]).strip()
            )

    def pids(self) -> list[int]:
        """The worker, and with --processes its members."""
        pids = [self.process.pid]
        with contextlib.suppress(OSError):
            task = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
            pids += [int(pid) for pid in task.read_text().split()]
        return pids

    def rss_mb(self) -> float:
        """The resident memory of the largest process: the worker, or with --processes the
        largest member (the supervisor itself holds no model)."""
        return max(_rss_mb(pid) for pid in self.pids())

    def cpu_seconds(self) -> float:
        """CPU time (user + system, every thread) the worker and its members have used."""
        return sum(cpu_seconds(pid) for pid in self.pids())

    def pause(self) -> None:
        """Stop every process of the worker (SIGSTOP), the supervisor first."""
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in reversed(self.pids()):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def cpu_seconds(pid: int | None) -> float:
    """A live process's CPU time so far (user + system, all its threads); 0 when it is gone.
    On a shared machine the CPU an event costs moves far less than events/s do."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


@contextlib.asynccontextmanager
async def _verdict_reader(settings: Any) -> AsyncIterator[Any]:
    """A consumer at the end of the verdicts topic (by partition assignment, no group)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from llm_shield.streams.kafka import wait_for_partitions
    from llm_shield.streams.security import aiokafka_options

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.broker,
        **aiokafka_options(settings),
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
    )
    await consumer.start()
    try:
        partitions = await wait_for_partitions(consumer, settings.topics.verdicts, 30.0)
        assignment = [TopicPartition(settings.topics.verdicts, p) for p in sorted(partitions)]
        consumer.assign(assignment)
        await consumer.seek_to_end(*assignment)
        yield consumer
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def _verdict_clients(settings: Any, linger_ms: int) -> AsyncIterator[tuple[Any, Any]]:
    """A producer for the prompts topic and a consumer at the end of the verdicts topic."""
    from aiokafka import AIOKafkaProducer

    from llm_shield.streams.security import aiokafka_options

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.broker, linger_ms=linger_ms, **aiokafka_options(settings)
    )
    await producer.start()
    try:
        async with _verdict_reader(settings) as consumer:
            yield producer, consumer
    finally:
        await producer.stop()


@dataclass(frozen=True)
class Collected:
    """One publish-and-collect run: end to end as the client saw it, and the worker's own pace
    (from the broker timestamps of the first and last verdict, so a publisher that cannot keep
    up with a fast worker does not count against it)."""

    seconds: float
    worker_seconds: float
    count: int

    @property
    def events_per_s(self) -> float:
        return _rate(self.count, self.seconds)

    @property
    def worker_events_per_s(self) -> float:
        return _rate(max(0, self.count - 1), self.worker_seconds)


PUBLISH_SLICE = 256
# How many verdicts one record batch of the worker's may hold, at most (see backlog_of).
VERDICT_BATCH_SLACK = 1024


async def _publish_and_collect(
    settings: Any,
    events: Sequence[dict],
    *,
    on_verdict: Callable[[], None] | None = None,
    backlog_of: _Worker | None = None,
    at_resume: Callable[[], None] | None = None,
) -> Collected:
    """Publish events as fast as possible and wait for every verdict.

    The events go out in record batches of up to ``PUBLISH_SLICE`` events per partition (as the
    worker sends its verdicts): one ``send`` per event capped the publisher near 20,000 events/s
    on this machine, below what two worker processes answer from the cache.

    Given ``backlog_of``, that worker is stopped (SIGSTOP) while the events are published and
    continued once the broker has them all, so it drains a backlog and the round is timed from
    then (``at_resume`` runs just before); the client then reads no verdict until nearly all are
    in (it watches the verdicts topic's end offsets) and reads the round back. Publishing and
    reading 20,000 events a second cost the client about a fifth of a core, which on a 2-core
    machine came out of the worker's share (an application's clients run elsewhere)."""
    from llm_shield.streams.kafka import RecordBatches

    async with _verdict_reader(settings) as consumer:
        wanted = {e["id"] for e in events}
        writer = RecordBatches(settings, "bench", max_record_bytes=1 << 20)
        topic = settings.topics.prompts
        outgoing = [(topic, e["id"].encode(), orjson.dumps(e), None) for e in events]
        assignment = sorted(consumer.assignment())
        if backlog_of is not None:
            consumer.pause(*assignment)
            starts = {tp: await consumer.position(tp) for tp in assignment}
            backlog_of.pause()
        started = time.perf_counter()

        async def publish() -> None:
            try:
                pending = []
                for start in range(0, len(outgoing), PUBLISH_SLICE):
                    sent = await writer.send_many(outgoing[start : start + PUBLISH_SLICE])
                    pending += [future for future, _ in sent]
                await asyncio.gather(*pending)
            finally:
                await writer.close()

        def check(seen: int) -> None:
            if time.perf_counter() - started > 600:
                raise BenchError(f"only {seen} of {len(wanted)} verdicts after 600 s")
            if publisher.done() and publisher.exception() is not None:
                raise BenchError(f"publishing failed: {publisher.exception()!r}")

        publisher = asyncio.create_task(publish())
        if backlog_of is not None:
            try:
                await publisher
            finally:
                if at_resume is not None:
                    at_resume()
                started = time.perf_counter()
                backlog_of.resume()
            # The embedded broker answers "latest" with its last record batch's base offset + 1,
            # not the high watermark: a lower bound, short by up to a batch per partition. So
            # the client reads again once at most that much can be left, and the round is timed
            # to its last verdict as before.
            slack = len(assignment) * VERDICT_BATCH_SLACK
            while True:
                ends = await consumer.end_offsets(assignment)
                arrived = sum(ends[tp] - starts[tp] for tp in assignment)
                if arrived >= len(wanted) - slack:
                    break
                check(arrived)
                await asyncio.sleep(0.02)
            consumer.resume(*assignment)
        seen: set[str] = set()
        first_ms, last_ms = None, 0
        while len(seen) < len(wanted):
            check(len(seen))
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batches.values():
                for record in records:
                    # verdicts are keyed by event id: no need to parse each one
                    event_id = record.key.decode() if record.key else None
                    if event_id in wanted and event_id not in seen:
                        seen.add(event_id)
                        first_ms = record.timestamp if first_ms is None else first_ms
                        first_ms = min(first_ms, record.timestamp)
                        last_ms = max(last_ms, record.timestamp)
                        if on_verdict:
                            on_verdict()
        elapsed = time.perf_counter() - started
        await publisher
        return Collected(elapsed, (last_ms - (first_ms or last_ms)) / 1000.0, len(wanted))


async def _latencies(settings: Any, events: Sequence[dict], rate: float) -> list[float]:
    """Publish→verdict latency per event at a fixed rate, from client-side clocks."""
    async with _verdict_clients(settings, linger_ms=0) as (producer, consumer):
        sent: dict[str, float] = {}
        latencies: list[float] = []

        async def publish() -> None:
            interval = 1.0 / rate
            next_at = time.perf_counter()
            for event in events:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at += interval
                sent[event["id"]] = time.perf_counter()
                await producer.send(settings.topics.prompts, value=orjson.dumps(event))

        task = asyncio.create_task(publish())
        deadline = time.perf_counter() + 300
        while len(latencies) < len(events) and time.perf_counter() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    event_id = orjson.loads(record.value).get("id")
                    if event_id in sent:
                        latencies.append((now - sent.pop(event_id)) * 1000)
        await task
        return latencies


async def _paced(
    count: int, rate: float, check: Callable[[int], Awaitable[bool | None]]
) -> tuple[list[float], float]:
    """Start ``count`` checks at ``rate`` per second without waiting for each other; returns
    each answered check's latency (ms; a check that returns False was refused and is not
    timed) and the seconds the whole run took."""
    latencies: list[float] = []

    async def one(index: int) -> None:
        started = time.perf_counter()
        if await check(index) is not False:
            latencies.append((time.perf_counter() - started) * 1000)

    tasks = []
    began = time.perf_counter()
    for index in range(count):
        delay = began + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(index)))
    await asyncio.gather(*tasks)
    return latencies, time.perf_counter() - began


def _latency_summary(latencies: Sequence[float], rate: float) -> dict[str, float]:
    return {
        "checks_per_s": round(rate, 1),
        "p50": _percentile(latencies, 0.50),
        "p95": _percentile(latencies, 0.95),
        "p99": _percentile(latencies, 0.99),
    }


# The gateway's answers when it sheds load: 503 with more than serve.max_concurrency checks in
# flight, 504 when a verdict did not come in time. A bench run counts them (``http_refused``)
# instead of ending on the first one: on 2 cores the gateway, the worker, the broker and the
# bench's client share the machine, and at half the client's highest rate the HTTP path is near
# its own limit (one run in three or so had a p95 near 200 ms there).
REFUSALS = (503, 504)


async def inline_checks(
    settings: Any,
    env: dict[str, str],
    alone: OneAtATime,
    events: Sequence[dict],
    *,
    quick: bool,
) -> dict[str, Any]:
    """Checks through the broker with the Python client and through the HTTP gateway (its own
    process, as it would run): the highest rate (many checks in flight), latency at 20 checks/s
    and at half the highest rate. Against them, the same texts scanned one at a time in process,
    as request-path guardrails do: by our pipeline (one encoder pass for all scanners) and by
    each scanner's own model one after another (how llm-guard's scanners run)."""
    import aiohttp

    from llm_shield.streams.broker import free_port
    from llm_shield.streams.client import ShieldClient
    from llm_shield.streams.events import Event
    from llm_shield.streams.pipeline import Pipeline

    texts = [e["text"] for e in events]
    burst = texts[: 300 if quick else 1500]
    step = max(1, len(burst) // (40 if quick else 200))
    sample = burst[::step]  # the burst's own length mix
    report: dict[str, Any] = {}
    pipeline = Pipeline(settings)
    pipeline.scan_events([Event(id="warm", text="warm up")])
    started = time.perf_counter()
    for index, text in enumerate(sample):
        pipeline.scan_events([Event(id=f"one-{index}", text=text)])
    report["one_at_a_time_scan_per_s"] = _rate(len(sample), time.perf_counter() - started)
    report["one_at_a_time_scanner_models_per_s"] = alone.rate(sample)
    del pipeline

    async with ShieldClient(settings, timeout_seconds=120) as shield:
        await shield.check("warm up")
        started = time.perf_counter()
        # a suffix keeps the texts apart from the ones the worker saw before (no cache hits)
        await asyncio.gather(*(shield.check(f"{text} ") for text in burst))
        highest = _rate(len(burst), time.perf_counter() - started)
        report["highest_checks_per_s"] = highest

        def through_client(pool: Sequence[str]) -> Callable[[int], Awaitable[None]]:
            async def check(index: int) -> None:
                await shield.check(pool[index % len(pool)])

            return check

        low = LOW_LOAD_EVENTS_PER_S
        half = max(1.0, highest / 2)
        low_count = 40 if quick else 200
        half_count = int(min(half * (5 if quick else 15), 4000))
        lat, _ = await _paced(low_count, low, through_client([f"{t}  " for t in texts]))
        report["client_low_load_ms"] = _latency_summary(lat, low)
        lat, _ = await _paced(half_count, half, through_client([f"{t}   " for t in texts]))
        report["client_half_load_ms"] = _latency_summary(lat, half)
        timeouts = shield.stats.timeouts

    port = free_port()
    gateway = _Worker(
        {**env, "LLM_SHIELD_SERVE_PORT": str(port), "LLM_SHIELD_METRICS_PORT": "0"},
        "serve",
        ready_text="llm-shield serve: http",
    )
    try:
        gateway.wait(60)
        url = f"http://127.0.0.1:{port}/v1/check"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            refused: Counter[str] = Counter()

            def through_http(pool: Sequence[str]) -> Callable[[int], Awaitable[bool]]:
                async def check(index: int) -> bool:
                    async with http.post(url, json={"text": pool[index % len(pool)]}) as reply:
                        body = await reply.read()
                        if reply.status in REFUSALS:
                            # the gateway shedding load as designed: counted, not timed
                            refused[str(reply.status)] += 1
                            return False
                        if reply.status != 200:
                            text = body[:200].decode(errors="replace")
                            raise BenchError(f"HTTP check answered {reply.status}: {text}")
                        return True

                return check

            await through_http(["warm up"])(0)
            lat, _ = await _paced(low_count, low, through_http([f"{t}    " for t in texts]))
            report["http_low_load_ms"] = _latency_summary(lat, low)
            lat, _ = await _paced(half_count, half, through_http([f"{t}     " for t in texts]))
            report["http_half_load_ms"] = _latency_summary(lat, half)
            report["http_refused"] = dict(refused)
    finally:
        gateway.stop()
    report["timeouts"] = timeouts
    one = report["one_at_a_time_scan_per_s"]
    report["highest_vs_one_at_a_time"] = round(highest / one, 2) if one else 0.0
    models = report["one_at_a_time_scanner_models_per_s"]
    report["highest_vs_scanner_models_one_at_a_time"] = (
        round(highest / models, 2) if models else 0.0
    )
    return report


def _fixed_window_low_load(
    values: dict[str, str], events: Sequence[dict], warmup: Sequence[dict]
) -> list[float]:
    """The trickle again on a worker with adaptive batching off (every batch waits out the
    window), warmed up first so that the first inferences' set-up is not counted."""
    from llm_shield.streams.config import env_name, load_settings

    run_values = {
        **values,
        "group_id": f"{values['group_id']}-fixed",
        "batching.adaptive": "false",
        "metrics_port": "0",
    }
    settings = load_settings(None, run_values)
    worker = _Worker({env_name(k): v for k, v in run_values.items()})
    try:
        worker.wait()
        asyncio.run(_publish_and_collect(settings, [dict(e, id=f"fw-{e['id']}") for e in warmup]))
        probe = [dict(e, id=f"fixed-{e['id']}") for e in events]
        return asyncio.run(_latencies(settings, probe, LOW_LOAD_EVENTS_PER_S))
    finally:
        worker.stop()


def _summary(latencies: Sequence[float]) -> dict[str, float]:
    return {"p50": _percentile(latencies, 0.50), "p99": _percentile(latencies, 0.99)}


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _scrape(port: int) -> dict[str, float]:
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("llm_shield_") and " " in line:
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def _histogram_p99(metrics: dict[str, float], name: str) -> float:
    count = metrics.get(f"{name}_count", 0.0)
    if not count:
        return 0.0
    buckets = sorted(
        (float(key.split('le="')[1].split('"')[0]), value)
        for key, value in metrics.items()
        if key.startswith(f"{name}_bucket") and 'le="+Inf"' not in key
    )
    for upper, cumulative in buckets:
        if cumulative >= 0.99 * count:
            return upper
    return buckets[-1][0] if buckets else 0.0


def _worker_values(broker: Any, tag: str, overrides: dict[str, str]) -> dict[str, str]:
    """Settings of one bench worker: its own topics and group on the embedded broker."""
    return {
        "broker": broker.bootstrap,
        "group_id": f"bench-{tag}",
        "kafka.partitions": "2",
        "kafka.session_timeout_seconds": "6",
        "kafka.rebalance_timeout_seconds": "6",
        **{
            f"topics.{t}": f"bench-{tag}.{t}"
            for t in (
                "prompts",
                "responses",
                "verdicts",
                "alerts",
                "deadletter",
                "policies",
                "stats",
            )
        },
        **overrides,
    }


def _start_worker(
    broker: Any, overrides: dict[str, str], tag: str, processes: int
) -> tuple[_Worker, Any]:
    """A ready worker (``processes`` members) on topics of its own, and its settings."""
    from llm_shield.streams.config import env_name, load_settings

    values = _worker_values(broker, f"{uuid.uuid4().hex[:6]}-{tag}{processes}", overrides)
    worker = _Worker(
        {env_name(k): v for k, v in values.items()},
        args=("--processes", str(processes)),
    )
    worker.wait()
    return worker, load_settings(None, values)


CACHE_HIT_ROUND_EVENTS = 20_000


def _cache_hits(
    broker: Any, overrides: dict[str, str], events: Sequence[dict], processes: int, rounds: int
) -> tuple[Collected, float, dict[str, float]]:
    """A worker (``processes`` members) whose cache holds every text: warmed with one pass,
    then ``rounds`` passes of the same texts under new ids, each published while the worker is
    stopped and drained as a backlog once it goes on (the publisher would otherwise share the
    cores with it). Returns the best pass, RSS, and the cores the worker, the broker and the
    bench's own client used during that pass (on a small machine they share the cores, so they
    bound what more members can add)."""
    worker, settings = _start_worker(broker, overrides, "p", processes)
    try:
        asyncio.run(_publish_and_collect(settings, [dict(e, id=f"w-{e['id']}") for e in events]))
        best: Collected | None = None
        # the texts again and again under new ids, CACHE_HIT_ROUND_EVENTS at least a round: a
        # worker answers over 10,000 hits a second, and a fraction of a second is no steady pace
        copies = max(3, -(-CACHE_HIT_ROUND_EVENTS // max(1, len(events))))
        marks: list[tuple[float, float, float]] = []  # CPU used so far, as each round resumes
        for round_ in range(rounds):
            again = [
                dict(e, id=f"h{round_}{copy}-{e['id']}") for copy in range(copies) for e in events
            ]
            collected = asyncio.run(
                _publish_and_collect(
                    settings,
                    again,
                    backlog_of=worker,
                    at_resume=lambda: marks.append(
                        (worker.cpu_seconds(), cpu_seconds(broker.pid), time.process_time())
                    ),
                )
            )
            used = marks[-1]
            if best is None or collected.worker_events_per_s > best.worker_events_per_s:
                best = collected
                spent = (worker.cpu_seconds(), cpu_seconds(broker.pid), time.process_time())
                best_cores = {
                    name: round((after - before) / collected.seconds, 2)
                    for name, before, after in zip(
                        ("worker", "broker", "bench_client"), used, spent, strict=True
                    )
                }
        assert best is not None
        return best, worker.rss_mb(), best_cores
    finally:
        worker.stop()


def _cold_run(
    broker: Any, overrides: dict[str, str], events: Sequence[dict], processes: int
) -> tuple[float, float]:
    """Events/s of a worker (``processes`` members) on texts it has never seen, cache off, and
    the CPU milliseconds per event that the worker and the broker spent on them."""
    worker, settings = _start_worker(broker, overrides, "c", processes)
    try:
        before = worker.cpu_seconds() + cpu_seconds(broker.pid)
        collected = asyncio.run(_publish_and_collect(settings, events))
        used = worker.cpu_seconds() + cpu_seconds(broker.pid) - before
        return collected.events_per_s, round(used * 1000 / max(1, len(events)), 2)
    finally:
        worker.stop()


def _cold(broker: Any, overrides: dict[str, str], events: Sequence[dict], processes: int) -> float:
    """Events/s of a worker (``processes`` members) on texts it has never seen, cache off."""
    return _cold_run(broker, overrides, events, processes)[0]


PAIRED_ROUND_TEXTS = 1_500
# Texts timed one at a time in each paired round (about a second each way here).
ONE_AT_A_TIME_TEXTS = 150
# Rounds per mode, quick runs too: a median of seven outvotes three slow moments of a shared
# machine (with three, a quick and a full run of one hour read kafka_vs_raw 0.834 and 0.921;
# with five, 0.903 and 0.911 in the default modes but 0.877 and 0.990 in ml mode).
PAIRED_ROUNDS = 7


def paired_pool(size: int = PAIRED_ROUND_TEXTS) -> list[dict]:
    """The events every paired round sends, in quick and full runs alike: ``size`` distinct
    texts of the stream's mix, from a seed of their own. Built from the run's own stream
    instead, a quick run (a few hundred texts, topped up) and a full run (2,012) timed
    different texts, and their ratios differed by their mix as well as by the machine; copying
    a short stream's texts flattered the worker, which scores a text repeated within a batch
    once while the raw model scored every copy."""
    pool: list[dict] = []
    seen: set[str] = set()
    for event in build_events(2 * size, repeat_fraction=0.0, seed=2 * size):
        if len(pool) >= size:
            break
        if event["text"] not in seen:
            seen.add(event["text"])
            pool.append(dict(event, id=f"pool-{len(pool)}"))
    if len(pool) < size:
        raise BenchError(f"the packaged corpora hold {len(pool)} distinct texts, not {size}")
    return pool


def _alternating_rounds(
    rounds: int, steps: Callable[[int], list[tuple[str, Callable[[], Any]]]]
) -> list[dict[str, Any]]:
    """Per round, the named steps back to back, every other round in reverse order: this
    machine drifts by a tenth within seconds, and a figure divided by the mean of the runs on
    either side of it cancels a steady drift instead of reading it as a difference."""
    out: list[dict[str, Any]] = []
    for round_ in range(rounds):
        todo = steps(round_)
        if round_ % 2:
            todo.reverse()
        out.append({name: step() for name, step in todo})
    return out


def _paired_rounds(
    settings: Any,
    events: Sequence[dict],
    rounds: int,
    timers: dict[str, Callable[[], float]],
) -> list[dict[str, float]]:
    """Per round, each of ``timers`` (one text at a time, replay, raw model last: texts/s on
    ``events``), the same events under new ids through an already warm worker, then the raw
    model again (``raw_after``), back to back, so that the figures of a round see the same
    machine; the worker sits between two raw-model runs (eight raw-model runs back to back
    here: 789-1,176 texts/s)."""

    def steps(round_: int) -> list[tuple[str, Callable[[], float]]]:
        again = [dict(e, id=f"pair{round_}-{e['id']}") for e in events]

        def worker() -> float:
            return asyncio.run(_publish_and_collect(settings, again)).events_per_s

        return [*timers.items(), ("kafka", worker), ("raw_after", timers["raw"])]

    return _alternating_rounds(rounds, steps)


def _paired_summary(rounds: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Each round's figures, the worker's and the replay's ratio to the raw model of their round
    (the mean of its two runs where a round has both) and the worker's to one text at a time,
    with the median ratios."""

    ceilings = [(r["raw"] + r.get("raw_after", r["raw"])) / 2 for r in rounds]

    def ratios(top: str, bottoms: Sequence[float], digits: int = 3) -> list[float]:
        return [
            round(r[top] / b, digits) if b else 0.0 for r, b in zip(rounds, bottoms, strict=True)
        ]

    summary: dict[str, Any] = {
        "kafka_events_per_s": [r["kafka"] for r in rounds],
        "raw_model_texts_per_s": [r["raw"] for r in rounds],
        "ratios": ratios("kafka", ceilings),
    }
    if rounds and "raw_after" in rounds[0]:
        summary["raw_model_after_texts_per_s"] = [r["raw_after"] for r in rounds]
    summary["median_ratio"] = round(statistics.median(summary["ratios"]), 3) if rounds else 0.0
    if rounds and "replay" in rounds[0]:
        summary["replay_texts_per_s"] = [r["replay"] for r in rounds]
        summary["replay_ratios"] = ratios("replay", ceilings)
        summary["median_replay_ratio"] = round(statistics.median(summary["replay_ratios"]), 3)
    for name in ("one_at_a_time", "one_at_a_time_same_windows"):
        if not rounds or name not in rounds[0]:
            continue
        summary[f"{name}_texts_per_s"] = [r[name] for r in rounds]
        summary[f"vs_{name}"] = ratios("kafka", summary[f"{name}_texts_per_s"], 2)
        summary[f"median_vs_{name}"] = round(statistics.median(summary[f"vs_{name}"]), 2)
    return summary


ML_MODE = {"scanners.prompt_injection.mode": "ml", "scanners.toxicity.mode": "ml"}
CONTEXT_OFF = {
    "policies.enabled": "false",
    "conversations.enabled": "false",
    "stats.enabled": "false",
}


def in_conversations(
    events: Sequence[dict], conversations: int = 200, tenants: int = 5, prefix: str = "conv"
) -> list:
    """The events as turns of ``conversations`` conversations of ``tenants`` tenants."""
    return [
        dict(e, conversation_id=f"{prefix}-{i % conversations}", tenant=f"tenant-{i % tenants}")
        for i, e in enumerate(events)
    ]


def _keys_by_partition(partitions: int) -> list[bytes]:
    """One key per partition (the producer's default partitioner sends it there)."""
    from aiokafka.partitioner import murmur2

    keys: dict[int, bytes] = {}
    index = 0
    while len(keys) < partitions:
        key = f"probe-{index}".encode()
        keys.setdefault((murmur2(key) & 0x7FFFFFFF) % partitions, key)
        index += 1
    return [keys[p] for p in range(partitions)]


async def _policy_propagation(settings: Any, partitions: int) -> dict[str, Any]:
    """Probe every partition (so every member) each 20 ms from before a policy is written to
    after: per partition, the policy was applied between the last verdict the worker decided
    under version 0 and the first under version 1 (the worker's own ``processed_at``, on this
    machine's clock, against the time the broker acknowledged the write)."""
    from datetime import datetime

    from llm_shield.streams.kafka import write_record
    from llm_shield.streams.tenant_policy import TenantPolicy

    keys = _keys_by_partition(partitions)
    written: dict[str, float] = {}
    before: dict[int, float] = {}
    after: dict[int, float] = {}
    async with _verdict_clients(settings, linger_ms=0) as (producer, consumer):

        async def probe() -> None:
            number, began = 0, time.time()
            while time.time() - began < 3.0:
                for partition, key in enumerate(keys):
                    event = {"id": f"pp-{number}-{partition}", "text": "hi", "tenant": "bench"}
                    await producer.send(settings.topics.prompts, orjson.dumps(event), key=key)
                number += 1
                if number == 25 and not written:  # 0.5 s of probes under version 0 first
                    record = TenantPolicy("bench", 1, {"scanners.toxicity.threshold": 0.4})
                    await write_record(
                        settings, settings.topics.policies, b"bench", record.to_json()
                    )
                    written["at"] = time.time()
                await asyncio.sleep(0.02)

        prober = asyncio.create_task(probe())
        quiet = 0
        while not prober.done() or quiet < 3:
            batches = await consumer.getmany(timeout_ms=300)
            quiet = 0 if batches else quiet + 1
            for records in batches.values():
                for item in records:
                    verdict = orjson.loads(item.value)
                    if not str(verdict.get("id", "")).startswith("pp-"):
                        continue
                    partition = int(verdict["id"].rsplit("-", 1)[1])
                    stamp = verdict["processed_at"].replace("Z", "+00:00")
                    at = datetime.fromisoformat(stamp).timestamp()
                    if verdict.get("policy_version") == 1:
                        after[partition] = min(after.get(partition, at), at)
                    else:
                        before[partition] = max(before.get(partition, at), at)
        await prober
    write_at = written.get("at", 0.0)
    applied = {
        str(p): {
            "after_s": round(before.get(p, write_at) - write_at, 3),
            "by_s": round(after[p] - write_at, 3),
        }
        for p in sorted(after)
    }
    return {
        "members": partitions,
        "applied_between_s_by_partition": applied,
        "all_applied_by_s": max(v["by_s"] for v in applied.values()) if applied else None,
        "probe_interval_s": 0.02,
    }


async def _stats_lag(settings: Any) -> dict[str, Any]:
    """How long after a window closed its stats records reached the topic (broker time)."""
    from llm_shield.streams.kafka import read_topic

    lags = []
    async for record in read_topic(settings, settings.topics.stats, timeout_seconds=2):
        data = orjson.loads(record.value)
        closed = data["window_start_unix"] + data["window_seconds"]
        lags.append((record.timestamp_ms or 0) / 1000.0 - closed)
    if not lags:
        return {"records": 0}
    return {
        "records": len(lags),
        "median_s": round(statistics.median(lags), 3),
        "max_s": round(max(lags), 3),
    }


CONTEXT_CASES = ("on", "on_conversations", "on_conversations_unjoined")
CONTEXT_ROUNDS = 7


def context_figures(
    broker: Any, overrides: dict[str, str], stream: Sequence[dict], rounds: int = CONTEXT_ROUNDS
) -> dict:
    """The cost of the stream's context and how fast it moves: throughput with it off, on, and
    on with every event a turn of a conversation, with the CPU each event cost; policy
    propagation to 3 members; stats lag.

    In each round the replay runs the four cases batch by batch in turn (replay_interleaved),
    and the worker runs every case (a warm worker each) between two runs with the context off;
    a case's cost in a round is against the context off in the same round, and the figure is
    the median of the rounds (see _context_summary)."""
    from llm_shield.streams.broker import free_port
    from llm_shield.streams.config import load_settings

    values = {
        "off": {**overrides, **CONTEXT_OFF},
        "on": overrides,
        "on_conversations": overrides,
        # the same turns with the joined texts off: what the tables themselves cost (state
        # read, written and sent to the changelog) apart from reading split attacks
        "on_conversations_unjoined": {**overrides, "conversations.joined_prompts": "1"},
    }
    loaded = {name: load_settings(None, v) for name, v in values.items()}

    def events_of(step: str, round_: int) -> list[dict]:
        """The step's events under new ids; a conversation case's turns open conversations
        of their own each round, so every round does the same work."""
        again = [dict(e, id=f"ctx{round_}{step}-{e['id']}") for e in stream]
        return in_conversations(again, prefix=f"r{round_}") if "conversations" in step else again

    out: dict[str, Any] = {"rounds": rounds}
    pipelines = {name: _bench_pipeline(v, context=name != "off") for name, v in loaded.items()}
    replayed: list[dict[str, tuple[float, float]]] = []
    for round_ in range(rounds):
        _say(f"context, replay round {round_ + 1} of {rounds}: the four cases batch by batch")
        replayed.append(
            replay_interleaved(pipelines, {name: events_of(name, round_) for name in pipelines})
        )
    out["replay_rows"] = {
        name: {"events": rounds * len(stream), **_pipeline_rows(pipeline)}
        for name, pipeline in pipelines.items()
    }
    del pipelines
    runs = {"replay": replayed}
    _say("context: a warm worker for each case")
    ports = {name: free_port() for name in values}
    workers = {
        name: _start_worker(broker, {**values[name], "metrics_port": str(ports[name])}, "x", 1)
        for name in values
    }
    try:

        def streamed(step: str, round_: int) -> Callable[[], tuple[float, float]]:
            worker, settings = workers["off" if step == "off_after" else step]

            def run() -> tuple[float, float]:
                events = events_of(step, round_)
                before = worker.cpu_seconds() + cpu_seconds(broker.pid)
                rate = asyncio.run(_publish_and_collect(settings, events)).events_per_s
                used = worker.cpu_seconds() + cpu_seconds(broker.pid) - before
                return rate, round(used * 1000 / max(1, len(events)), 3)

            return run

        def steps(round_: int) -> list[tuple[str, Callable[[], tuple[float, float]]]]:
            order = ("off", *CONTEXT_CASES, "off_after")
            _say(f"context, kafka round {round_ + 1} of {rounds}: {', '.join(order)}")
            return [(step, streamed(step, round_)) for step in order]

        runs["kafka"] = _alternating_rounds(rounds, steps)
        out["kafka_rows"] = {
            name: _worker_in_pipeline(ports[name]) for name in values if name != "off"
        }
    finally:
        for worker, _settings in workers.values():
            worker.stop()
    for kind, kind_runs in runs.items():
        out.update(_context_summary(kind, kind_runs))
    _say("context: policy propagation to 3 members, stats window lag")
    worker, settings = _start_worker(
        broker, {**overrides, "kafka.partitions": "3", "stats.window_seconds": "2"}, "pol", 3
    )
    try:
        out["policy_propagation"] = asyncio.run(_policy_propagation(settings, 3))
        time.sleep(3.5)
        out["stats_window_lag"] = {"window_seconds": 2, **asyncio.run(_stats_lag(settings))}
    finally:
        worker.stop()
    return out


def _context_summary(kind: str, rounds: Sequence[dict[str, tuple[float, float]]]) -> dict:
    """Medians over the rounds of one kind (``replay`` or ``kafka``): events/s and CPU
    milliseconds per event per case, and each case's cost against the context off in its own
    round: ``cost`` the fraction of throughput lost (positive: slower with the context),
    ``cpu_cost`` the CPU per event added, which on a saturated machine is the same loss without
    the machine's drift in it. Each round's rows are (events/s, CPU ms per event)."""
    suffix = {name: name.removeprefix("on") for name in CONTEXT_CASES}  # on_x -> _x
    names = ("off", *CONTEXT_CASES)
    rounds = [{"off_after": r["off"], **r} for r in rounds]  # interleaved: one off run
    rates = {n: [r[n][0] for r in rounds] for n in (*names, "off_after")}
    cpu = {n: [r[n][1] for r in rounds] for n in (*names, "off_after")}

    def against_off(
        values: dict[str, list[float]], change: Callable[[float, float], float]
    ) -> dict[str, list[float]]:
        """Per case, each round's ``change(case, off)``, off being the mean of its off runs."""
        base = [(a + b) / 2 for a, b in zip(values["off"], values["off_after"], strict=True)]
        return {
            name: [
                round(change(on, off), 3) if off else 0.0
                for on, off in zip(values[name], base, strict=True)
            ]
            for name in CONTEXT_CASES
        }

    cost = against_off(rates, lambda on, off: 1.0 - on / off)
    cpu_cost = against_off(cpu, lambda on, off: on / off - 1.0)

    def median(values: Sequence[float], digits: int) -> float:
        return round(statistics.median(values), digits) if values else 0.0

    return {
        f"{kind}_events_per_s": {n: median(rates[n], 1) for n in names},
        f"{kind}_cpu_ms_per_event": {n: median(cpu[n], 2) for n in names},
        f"{kind}_runs": {"events_per_s": rates, "cpu_ms_per_event": cpu},
        f"{kind}_cost_rounds": {"cost": cost, "cpu_cost": cpu_cost},
        f"{kind}_cost": {f"{kind}{suffix[n]}": median(cost[n], 3) for n in CONTEXT_CASES},
        f"{kind}_cpu_cost": {f"{kind}{suffix[n]}": median(cpu_cost[n], 3) for n in CONTEXT_CASES},
    }


def run_bench(events_count: int, *, quick: bool, variant: str = "int8") -> dict[str, Any]:
    import onnxruntime

    from llm_shield.models.session import usable_cores
    from llm_shield.registry.home import default_home
    from llm_shield.streams.broker import EmbeddedBroker, free_port
    from llm_shield.streams.config import env_name, load_settings
    from llm_shield.streams.heap import settle_heap

    home = default_home()
    threads = 0
    events = build_events(events_count)
    # the collector set once, as the replay and the worker set it: the bench's own pipelines
    # then pay what theirs do (the bench process also holds its corpora and their libraries)
    settle_heap()
    cores = usable_cores()
    report: dict[str, Any] = {
        "machine": {
            "cores": cores,
            "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__,
            "variant": variant,
            "threads": threads or cores,
        },
        "events": len(events),
    }
    # The stream's own texts, each once: the raw model, the replay and the worker all get these
    # (repeats would be scored once per batch and flatter the pipeline).
    seen_texts: set[str] = set()
    stream = [
        dict(e, id=f"k{i}-{e['id']}")
        for i, e in enumerate(events)
        if not (e["text"] in seen_texts or seen_texts.add(e["text"]))
    ]
    unique = [e["text"] for e in stream]
    report["unique_texts"] = len(unique)
    # the paired rounds' texts, the same in quick and full runs (see paired_pool)
    pool = paired_pool()
    pool_texts, pool_kinds = [e["text"] for e in pool], [e["kind"] for e in pool]
    small = pool[:ONE_AT_A_TIME_TEXTS]
    small_texts, small_kinds = pool_texts[:ONE_AT_A_TIME_TEXTS], pool_kinds[:ONE_AT_A_TIME_TEXTS]
    _say(f"one text at a time on {len(small)} texts")
    alone = OneAtATime(home, variant, threads)
    report["one_at_a_time_texts_per_s"] = alone.rate(small_texts)

    with tempfile.TemporaryDirectory(prefix="llm-shield-bench-") as tmp:
        overrides = {
            "cache_dir": str(Path(tmp) / "cache"),
            "models.cache_enabled": "false",
            "log_level": "warning",
            **{f"scanners.{name}.variant": variant for name in ("prompt_injection", "toxicity")},
            "scanners.sentiment.variant": variant,
        }
        settings = load_settings(None, overrides)
        _say(f"raw model on the stream's {len(stream)} texts (same batches, windows, threads)")
        stream_texts, stream_kinds = [e["text"] for e in stream], [e["kind"] for e in stream]
        raw_runs = [raw_model(settings, stream_texts, stream_kinds)]
        ml_settings = load_settings(None, {**overrides, **ML_MODE})

        # what each paired round times before the worker, per mode (one graph for both)
        def raw() -> float:
            return raw_model(settings, pool_texts, pool_kinds)

        default_timers: dict[str, Callable[[], float]] = {
            "one_at_a_time": lambda: alone.rate(small_texts),
            "one_at_a_time_same_windows": lambda: alone.rate(small_texts, small_kinds),
            "replay": lambda: replay_rate(settings, pool),
            "raw": raw,
        }
        ml_timers: dict[str, Callable[[], float]] = {
            "replay": lambda: replay_rate(ml_settings, pool),
            "raw": raw,
        }

        pair_rounds = PAIRED_ROUNDS
        paired: dict[str, Any] = {}
        _say(f"offline replay of the same {len(stream)} events, cache off: default modes, ml")
        report["replay_texts_per_s"] = replay_rate(settings, stream)
        report["replay_ml_texts_per_s"] = replay_rate(ml_settings, stream)

        with EmbeddedBroker(port=0, log_path=Path(tmp) / "tansu.log") as broker:
            port = free_port()
            values = _worker_values(
                broker, uuid.uuid4().hex[:6], {**overrides, "metrics_port": str(port)}
            )
            cold_settings = load_settings(None, values)
            cold_env = {env_name(k): v for k, v in values.items()}
            worker = _Worker(cold_env)
            try:
                worker.wait()
                _say(f"kafka, cache off: {len(stream)} unique events")
                with _progress(len(stream), "kafka") as bar:
                    collected = asyncio.run(
                        _publish_and_collect(
                            cold_settings, stream, on_verdict=lambda: bar.update(1)
                        )
                    )
                report["kafka_events_per_s"] = collected.events_per_s
                _say(
                    f"paired rounds on {len(pool)} texts: one at a time, replay, raw model, "
                    f"the warm worker, raw model again ({pair_rounds})"
                )
                paired["default"] = _paired_summary(
                    _paired_rounds(cold_settings, pool, pair_rounds, default_timers)
                )
                metrics = _scrape(port)
                batches = metrics.get("llm_shield_batch_size_count", 0.0)
                report["batch"] = {
                    "mean_size": round(metrics.get("llm_shield_batch_size_sum", 0) / batches, 1)
                    if batches
                    else 0.0,
                    "p99_inference_ms": round(
                        _histogram_p99(metrics, "llm_shield_batch_latency_seconds") * 1000, 1
                    ),
                }
                trickle = stream[-(30 if quick else 200) :]
                _say(f"low load: {len(trickle)} events at {LOW_LOAD_EVENTS_PER_S:.0f} ev/s")
                low_adaptive = asyncio.run(
                    _latencies(
                        cold_settings,
                        [dict(e, id=f"low-{e['id']}") for e in trickle],
                        LOW_LOAD_EVENTS_PER_S,
                    )
                )
                half = max(1.0, report["kafka_events_per_s"] / 2)
                probe = [dict(e, id=f"lat-{e['id']}") for e in stream[: 200 if quick else 1000]]
                _say(f"latency at half load: {len(probe)} events at {half:.0f} ev/s")
                latencies = asyncio.run(_latencies(cold_settings, probe, half))
                report["latency_ms"] = {
                    "load_fraction": 0.5,
                    "events_per_s": round(half, 1),
                    "p50": _percentile(latencies, 0.50),
                    "p95": _percentile(latencies, 0.95),
                    "p99": _percentile(latencies, 0.99),
                    "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0,
                }
                report["rss_mb"] = worker.rss_mb()
                _say("inline checks: client and HTTP, low load and half of the highest rate")
                report["inline"] = asyncio.run(
                    inline_checks(cold_settings, cold_env, alone, stream, quick=quick)
                )
            finally:
                worker.stop()

            _say(f"kafka in ml mode (no patterns), cache off: {len(stream)} unique events")
            ml_worker, ml_worker_settings = _start_worker(broker, {**overrides, **ML_MODE}, "m", 1)
            try:
                report["kafka_ml_events_per_s"] = asyncio.run(
                    _publish_and_collect(ml_worker_settings, stream)
                ).events_per_s
                _say(
                    f"paired rounds, ml mode: replay, raw model, the warm worker, raw model "
                    f"again ({pair_rounds})"
                )
                paired["ml"] = _paired_summary(
                    _paired_rounds(ml_worker_settings, pool, pair_rounds, ml_timers)
                )
            finally:
                ml_worker.stop()

            warm = {**overrides, "models.cache_enabled": "true"}
            rounds = 2 if quick else 3
            _say("kafka, all cache hits (1 process)")
            hits, rss, hit_cores = _cache_hits(broker, warm, stream, 1, rounds)
            report["kafka_cache_hit_events_per_s"] = hits.worker_events_per_s
            report["kafka_cache_hit_end_to_end_events_per_s"] = hits.events_per_s
            processes = max(2, cores)
            _say(f"scale: {processes} processes, cold and all cache hits")
            scaled_hits, scaled_rss, scaled_cores = _cache_hits(
                broker, warm, stream, processes, rounds
            )
            scaled_cold = _cold(broker, overrides, stream, processes)
            report["scale"] = {
                "processes": processes,
                "cache_hit_cores_used": {"1": hit_cores, "n": scaled_cores},
                "cold_events_per_s": {"1": report["kafka_events_per_s"], "n": scaled_cold},
                "cache_hit_events_per_s": {
                    "1": hits.worker_events_per_s,
                    "n": scaled_hits.worker_events_per_s,
                },
                "cache_hit_ratio": round(
                    scaled_hits.worker_events_per_s / hits.worker_events_per_s, 2
                )
                if hits.worker_events_per_s
                else 0.0,
                "cold_ratio": round(scaled_cold / report["kafka_events_per_s"], 2)
                if report["kafka_events_per_s"]
                else 0.0,
                "rss_mb_largest_member": scaled_rss,
                "rss_mb_one_process_warm": rss,
            }

            report["context"] = context_figures(
                broker, overrides, stream, 3 if quick else CONTEXT_ROUNDS
            )

            report["low_load_latency_ms"] = {
                "events_per_s": LOW_LOAD_EVENTS_PER_S,
                "window_ms": round(cold_settings.batching.window_seconds * 1000, 1),
                "adaptive": _summary(low_adaptive),
            }
            if not quick:
                _say("low load again with adaptive batching off (a fixed window)")
                fixed = _fixed_window_low_load(values, trickle, stream[:50])
                report["low_load_latency_ms"]["fixed_window"] = _summary(fixed)
    # The raw model once more at the end: on a shared machine a single pass moves by a third,
    # and the faster of the two is the ceiling the ratios divide by (the stricter choice).
    _say("raw model again (the faster of the two runs is the ceiling)")
    raw_runs.append(raw_model(settings, stream_texts, stream_kinds))
    report["raw_model_texts_per_s"] = max(raw_runs)
    report["raw_model_runs_texts_per_s"] = raw_runs
    _say("heuristics on adversarial 64 KiB inputs")
    report["heuristics_slowest_64k"] = slowest_input()
    raw = report["raw_model_texts_per_s"]

    def ratio(value: float) -> float:
        return round(value / raw, 3) if raw else 0.0

    one = report["one_at_a_time_texts_per_s"]
    report["paired_rounds"] = paired
    report["ratios"] = {
        "kafka_vs_raw": paired["default"]["median_ratio"],
        "kafka_vs_raw_ml": paired["ml"]["median_ratio"],
        "kafka_first_pass_vs_raw": ratio(report["kafka_events_per_s"]),
        "kafka_ml_first_pass_vs_raw": ratio(report["kafka_ml_events_per_s"]),
        "replay_vs_raw": paired["default"]["median_replay_ratio"],
        "replay_vs_raw_ml": paired["ml"]["median_replay_ratio"],
        "replay_first_pass_vs_raw": ratio(report["replay_texts_per_s"]),
        "kafka_vs_one_at_a_time": paired["default"]["median_vs_one_at_a_time"],
        "kafka_vs_one_at_a_time_same_windows": paired["default"][
            "median_vs_one_at_a_time_same_windows"
        ],
        "kafka_first_pass_vs_one_at_a_time": round(report["kafka_events_per_s"] / one, 2)
        if one
        else 0.0,
    }
    context = report["context"]
    for key in ("cost", "cpu_cost"):
        context[key] = {**context.pop(f"replay_{key}"), **context.pop(f"kafka_{key}")}
    return report
