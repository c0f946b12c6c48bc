"""Session fixtures: one embedded Tansu broker for the whole run, per-test topic sets, and a worker
started the way a user starts it (the installed ``llm-shield`` in a subprocess).

Output topics are read by partition assignment, never by joining a group, so reads are immediate.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from llm_shield.streams.broker import EmbeddedBroker
from llm_shield.streams.config import Settings, env_name, load_settings
from llm_shield.streams.kafka import read_topic

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "ops" / "data" / "tuning"

# The result cache and faust's folders (made beside it) of every test that names no cache of its
# own: a folder of this session's, not the user's ~/.cache/llm-shield, which runs of the suite
# filled with a faust folder per test group and with the verdicts of test texts. Set before any
# test runs, so the workers and CLI commands the tests start inherit it too.
TEST_CACHE = Path(tempfile.mkdtemp(prefix="llm-shield-tests-")) / "cache"


def pytest_configure(config: pytest.Config) -> None:
    os.environ["LLM_SHIELD_CACHE_DIR"] = str(TEST_CACHE)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(TEST_CACHE.parent, ignore_errors=True)


def llm_shield_command() -> list[str]:
    """The installed console script, as a user runs it."""
    script = shutil.which("llm-shield", path=str(Path(sys.executable).parent)) or shutil.which(
        "llm-shield"
    )
    if script is None:
        pytest.fail("the llm-shield command is not installed (pip install -e '.[dev]')")
    return [script]


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log_path = tmp_path_factory.mktemp("tansu") / "tansu.log"
    embedded = EmbeddedBroker(port=0, log_path=log_path)
    embedded.start()
    yield embedded
    embedded.stop()


@dataclass
class TopicSet:
    """Settings whose five topics and group are unique to one test, plus their env form."""

    settings: Settings
    env: dict[str, str] = field(default_factory=dict)


def make_topic_set(bootstrap: str, partitions: int = 3, **extra: str) -> TopicSet:
    tag = uuid.uuid4().hex[:8]
    values = {
        "broker": bootstrap,
        "cache_dir": str(TEST_CACHE),
        "group_id": f"test-{tag}",
        "kafka.partitions": str(partitions),
        "kafka.session_timeout_seconds": "6",
        "kafka.rebalance_timeout_seconds": "6",
        "kafka.connect_timeout_seconds": "10",
        "topics.prompts": f"t{tag}.prompts",
        "topics.responses": f"t{tag}.responses",
        "topics.verdicts": f"t{tag}.verdicts",
        "topics.alerts": f"t{tag}.alerts",
        "topics.deadletter": f"t{tag}.deadletter",
        "topics.policies": f"t{tag}.policies",
        "topics.stats": f"t{tag}.stats",
        **extra,
    }
    settings = load_settings(None, values, environ={})
    env = {env_name(name): value for name, value in values.items()}
    return TopicSet(settings=settings, env=env)


async def _delete_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = (*settings.input_topics, *settings.output_topics, *settings.context_topics)
        names = [t for t in wanted if t in existing]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


@pytest.fixture
def topic_set(broker: EmbeddedBroker) -> Iterator[TopicSet]:
    topics = make_topic_set(broker.bootstrap)
    yield topics
    try:
        asyncio.run(_delete_topics(topics.settings))
    except Exception as exc:  # noqa: BLE001 - cleanup must not hide the test's own result
        print(f"topic cleanup failed: {exc!r}", file=sys.stderr)


def read_all(settings: Settings, topic: str, expected: int, timeout_seconds: float = 60.0) -> list:
    """Read records from every partition until ``expected`` arrived or nothing came for a while."""

    async def run() -> list:
        records = []
        deadline = time.monotonic() + timeout_seconds
        async for record in read_topic(
            settings, topic, max_records=expected, timeout_seconds=timeout_seconds
        ):
            records.append(record)
            if time.monotonic() > deadline:
                break
        return records

    return asyncio.run(run())


def read_json(settings: Settings, topic: str, expected: int, timeout_seconds: float = 60.0) -> list:
    return [orjson.loads(r.value) for r in read_all(settings, topic, expected, timeout_seconds)]


class WorkerProcess:
    """``llm-shield worker`` in a subprocess; ready when it prints its ready line."""

    def __init__(self, topics: TopicSet, *args: str) -> None:
        self.topics = topics
        self.args = args
        self.process: subprocess.Popen[str] | None = None
        self.stderr_lines: list[str] = []
        self._ready = threading.Event()

    def start(self, timeout_seconds: float = 90.0) -> WorkerProcess:
        self.start_async()
        return self.wait_ready(timeout_seconds)

    def start_async(self) -> None:
        env = {**os.environ, **self.topics.env, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [*llm_shield_command(), "worker", *self.args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def wait_ready(self, timeout_seconds: float = 90.0) -> WorkerProcess:
        if not self._ready.wait(timeout_seconds):
            self.stop()
            raise AssertionError("worker not ready:\n" + "".join(self.stderr_lines[-40:]))
        return self

    def _pump(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)
            if "ready in" in line:
                self._ready.set()

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> int:
        """SIGKILL: no handler runs, nothing is flushed or committed."""
        assert self.process is not None
        self.process.kill()
        return self.process.wait()

    def rss_mb(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stderr_text(self) -> str:
        return "".join(self.stderr_lines)

    def stop(self, timeout_seconds: float = 30.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def produce(
    settings: Settings, values: list[tuple[str, bytes]], *, keys: list[bytes | None] | None = None
) -> None:
    """Publish (topic, value) pairs with a plain aiokafka producer and wait for every ack."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.broker, max_request_size=16 << 20, linger_ms=5
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=keys[i] if keys else None)
            for i, (topic, value) in enumerate(values)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def sample_texts() -> list[str]:
    texts = []
    for name in ("prompt_injection", "toxicity", "sentiment"):
        for line in (DATA / f"{name}.jsonl").read_bytes().splitlines():
            texts.append(orjson.loads(line)["text"])
    return texts


class TopicWatcher:
    """Reads a topic from the beginning in a background thread and counts records by event id,
    so a test can act when the worker has made some progress (and count duplicates after)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.ids: Counter[str] = Counter()
        self.records = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from llm_shield.streams.kafka import wait_for_partitions

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.broker,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=16 << 20,
        )
        await consumer.start()
        try:
            partitions = await wait_for_partitions(consumer, self.topic, 60)
            assignment = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(assignment)
            await consumer.seek_to_beginning(*assignment)
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                for records in batches.values():
                    for record in records:
                        self.records += 1
                        event_id = orjson.loads(record.value).get("id")
                        if isinstance(event_id, str):
                            self.ids[event_id] += 1
        finally:
            await consumer.stop()

    def wait_for(self, predicate, timeout_seconds: float, what: str) -> None:
        deadline = time.monotonic() + timeout_seconds
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what} ({len(self.ids)} ids seen)")
            time.sleep(0.1)

    def wait_for_ids(self, wanted: set[str], timeout_seconds: float) -> set[str]:
        """Waits until every wanted id was seen or the time is up; returns those still missing."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            missing = wanted - self.ids.keys()
            if not missing:
                return set()
            time.sleep(0.2)
        return wanted - self.ids.keys()

    def duplicates(self, wanted: set[str]) -> int:
        """Records beyond the first for the wanted ids: work scanned again after a crash."""
        return sum(count - 1 for event_id, count in self.ids.items() if event_id in wanted)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture(scope="session")
def starter_home() -> Path:
    """The starter models in the model home, built once (a no-op when the recipe is unchanged).

    `make test` builds them before pytest starts; this only re-checks the recipe hash and files.
    """
    from llm_shield.ops.build_models import build
    from llm_shield.registry.home import default_home

    home = default_home()
    build(home)
    return home


class ModelServer:
    """stdlib http.server on 127.0.0.1 that counts GETs and can cut one path short."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hits: Counter[str] = Counter()
        self.truncate: set[str] = set()
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.hits[self.path] += 1
                if self.path in server.truncate:
                    data = (root / self.path.lstrip("/")).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                super().do_GET()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
