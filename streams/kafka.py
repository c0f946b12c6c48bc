"""Plain aiokafka clients for the edges that are not the Faust worker: topic setup, publish, tail.

Reading a topic uses manual partition assignment, never a consumer group, so that ``tail`` and the
tests see whole topics at once instead of waiting for a group join.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner

from llm_shield.streams.config import Settings
from llm_shield.streams.errors import BrokerError, BrokerUnreachable, DeliveryFailed
from llm_shield.streams.partitioning import key_partitions
from llm_shield.streams.security import aiokafka_options, ssl_context

log = logging.getLogger(__name__)
Client = TypeVar("Client")


def first_broker(bootstrap: str) -> tuple[str, int]:
    """Host and port of the first ``host:port`` of a bootstrap list (``[::1]:9092`` too)."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    return host.strip("[]"), int(port)


def _tls_problem(bootstrap: str, context: ssl.SSLContext | None) -> str | None:
    """Why a TLS handshake with the first bootstrap server fails, if it does.

    aiokafka logs the handshake error and raises a bare connection error, so after the last
    retry we shake hands once ourselves to tell the user what is wrong.
    """
    if context is None:
        return None
    try:
        host, port = first_broker(bootstrap)
        with socket.create_connection((host, port), timeout=3) as sock:
            with context.wrap_socket(sock, server_hostname=host):
                return None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message or str(exc)
    except ssl.SSLError as exc:
        return exc.reason or str(exc)
    except (OSError, ValueError):
        return None


def _unreachable(
    bootstrap: str, exc: BaseException, context: ssl.SSLContext | None = None
) -> BrokerUnreachable:
    problem = _tls_problem(bootstrap, context)
    if problem is not None:
        return BrokerUnreachable(
            f"TLS handshake with the Kafka broker at {bootstrap} failed ({problem}); "
            "check kafka.ssl_cafile (the CA that signed the broker's certificate), "
            "kafka.ssl_check_hostname and the client certificate"
        )
    return BrokerUnreachable(
        f"cannot reach a Kafka broker at {bootstrap} ({type(exc).__name__}); "
        "start one with `llm-shield dev` or pass --broker host:port"
    )


async def _close_quietly(client: Any) -> None:
    closer = getattr(client, "stop", None) or getattr(client, "close", None)
    try:
        await closer()
    except (KafkaError, OSError) as exc:
        log.debug("closing a client that never started: %r", exc)


async def start_client(
    factory: Callable[[], Client], settings: Settings, timeout_seconds: float | None = None
) -> Client:
    """Start a fresh aiokafka client per attempt until ``timeout_seconds`` (default
    ``kafka.connect_timeout_seconds``), logging each retry; then one clear error."""
    bootstrap = settings.broker
    if timeout_seconds is None:
        timeout_seconds = settings.kafka.connect_timeout_seconds
    deadline = time.monotonic() + timeout_seconds
    attempt = 0
    while True:
        attempt += 1
        client = factory()
        try:
            await client.start()
            return client
        except (KafkaConnectionError, OSError) as exc:
            await _close_quietly(client)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _unreachable(bootstrap, exc, ssl_context(settings)) from None
            delay = min(1.0 * attempt, 5.0, remaining)
            log.warning(
                "broker %s not reachable (attempt %d); retrying in %.1f s",
                bootstrap,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)


def _admin(settings: Settings, timeout_seconds: float) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.broker,
        **aiokafka_options(settings),
        client_id=f"{settings.kafka.client_id}-admin",
        request_timeout_ms=max(int(timeout_seconds * 1000), 5000),
    )


def _new_topic(settings: Settings, name: str, partitions: int | None = None) -> NewTopic:
    """The policies topic is compacted (its latest record per tenant is the policy) and has one
    partition, so every policy's records stay in order; the others have ``partitions``
    (default ``kafka.partitions``)."""
    if name == settings.topics.policies:
        return NewTopic(
            name=name,
            num_partitions=1,
            replication_factor=settings.kafka.replication_factor,
            topic_configs={"cleanup.policy": "compact"},
        )
    return NewTopic(
        name=name,
        num_partitions=partitions or settings.kafka.partitions,
        replication_factor=settings.kafka.replication_factor,
    )


async def partition_counts(admin: AIOKafkaAdminClient, names: Iterable[str]) -> dict[str, int]:
    """How many partitions each of ``names`` has; names the broker does not know are left out
    (ask only for topics that exist: some brokers create a topic they are asked about)."""
    names = list(names)
    if not names:
        return {}
    counts = {}
    for row in await admin.describe_topics(names):
        if row.get("error_code", 0) == 0 and row.get("partitions"):
            counts[row["topic"]] = len(row["partitions"])
    return counts


async def topic_partitions(
    settings: Settings, names: Iterable[str], timeout_seconds: float | None = None
) -> dict[str, int]:
    """``partition_counts`` of those of ``names`` that exist, on a client of its own."""
    timeout_seconds = (
        settings.kafka.connect_timeout_seconds if timeout_seconds is None else timeout_seconds
    )
    admin = await start_client(lambda: _admin(settings, timeout_seconds), settings, timeout_seconds)
    try:
        existing = set(await admin.list_topics())
        return await partition_counts(admin, [name for name in names if name in existing])
    finally:
        await admin.close()


def input_width(settings: Settings, counts: dict[str, int]) -> int:
    """The partition count the input topics share, which the conversation changelog must have
    too (a conversation's state lives in the changelog partition numbered like its events').
    ``kafka.partitions`` unless input topics exist with another count: a broker that creates a
    topic when a producer first writes to it gives it its own default (Tansu: 4, Kafka's
    num.partitions: 1), and an app that publishes before the worker made its topics, or after
    the broker came back empty, makes them so. The widest one counts, so that no input
    partition is without a changelog partition."""
    widths = {topic: counts[topic] for topic in settings.input_topics if topic in counts}
    return max(widths.values(), default=settings.kafka.partitions)


async def ensure_topics(settings: Settings, timeout_seconds: float | None = None) -> list[str]:
    """Create the SPEC topics that do not exist yet; returns the names created."""
    created, _ = await prepare_topics(settings, timeout_seconds)
    return created


async def prepare_topics(
    settings: Settings, timeout_seconds: float | None = None
) -> tuple[list[str], dict[str, int]]:
    """``ensure_topics``, and the partition count of every input topic after it, on one client
    (the worker sizes its changelog to them, see ``input_width``). A missing input topic gets
    the partitions of the inputs that exist, so that the inputs stay partitioned alike."""
    timeout_seconds = (
        settings.kafka.connect_timeout_seconds if timeout_seconds is None else timeout_seconds
    )
    admin = await start_client(lambda: _admin(settings, timeout_seconds), settings, timeout_seconds)
    try:
        existing = set(await admin.list_topics())
        counts = await partition_counts(admin, [t for t in settings.input_topics if t in existing])
        wanted = [*settings.input_topics, *settings.output_topics, *settings.context_topics]
        missing = [name for name in wanted if name not in existing]
        if missing:
            width = input_width(settings, counts)
            new_topics = [
                _new_topic(settings, name, width if name in settings.input_topics else None)
                for name in missing
            ]
            try:
                await admin.create_topics(new_topics)
            except TopicAlreadyExistsError:
                log.info("topics were created concurrently by another worker")
            except KafkaError as exc:
                raise BrokerError(f"could not create topics {', '.join(missing)}: {exc}") from None
            log.info("created topics: %s", ", ".join(missing))
            counts.update({t: width for t in settings.input_topics if t in missing})
        return missing, counts
    finally:
        await admin.close()


@dataclass(frozen=True)
class BrokerState:
    """What the watch compares between checks: which topics are missing, and the group's
    committed input offsets (on the same broker they never go back)."""

    missing: list[str]
    committed: dict[tuple[str, int], int]


async def broker_state(settings: Settings, timeout_seconds: float) -> BrokerState:
    """Raises ``BrokerUnreachable`` when the broker does not answer within ``timeout_seconds``
    (a paused or dead broker)."""
    admin = _admin(settings, timeout_seconds)
    # A consumer of the group that never subscribes reads its committed offsets without joining
    # (the admin client's OffsetFetch is not understood by every broker).
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.broker,
        **aiokafka_options(settings),
        client_id=f"{settings.kafka.client_id}-watch",
        group_id=settings.group_id,
        enable_auto_commit=False,
        request_timeout_ms=max(int(timeout_seconds * 1000), 5000),
    )
    committed: dict[tuple[str, int], int] = {}
    try:
        await asyncio.wait_for(admin.start(), timeout_seconds)
        existing = set(await asyncio.wait_for(admin.list_topics(), timeout_seconds))
        inputs = [t for t in settings.input_topics if t in existing]  # never name a missing one
        if inputs:
            await asyncio.wait_for(reader.start(), timeout_seconds)
            metadata = await asyncio.wait_for(reader._client.fetch_all_metadata(), timeout_seconds)
            for topic in inputs:
                for partition in sorted(metadata.partitions_for_topic(topic) or ()):
                    tp = TopicPartition(topic, partition)
                    offset = await asyncio.wait_for(reader.committed(tp), timeout_seconds)
                    if offset is not None and offset >= 0:
                        committed[(topic, partition)] = offset
    except (TimeoutError, KafkaError, OSError) as exc:
        raise _unreachable(settings.broker, exc) from None
    finally:
        await _close_quietly(reader)
        await _close_quietly(admin)
    wanted = (*settings.input_topics, *settings.output_topics)
    return BrokerState([t for t in wanted if t not in existing], committed)


def _reset_reason(before: BrokerState | None, now: BrokerState) -> str | None:
    """Why the broker looks restarted with empty storage (or our topics recreated), if it does.

    Missing topics say it plainly. Topics that other clients recreated first (brokers that
    create a topic when asked about it) are caught by the group's committed offsets: they only
    grow on the same broker, and a new one starts without them.
    """
    if now.missing:
        return f"it has lost topics {', '.join(now.missing)}"
    if before is None:
        return None
    back = [tp for tp, offset in before.committed.items() if now.committed.get(tp, -1) < offset]
    if back:
        tp = back[0]
        return (
            f"the group's committed offset for {tp[0]}[{tp[1]}] went back from "
            f"{before.committed[tp]} to {now.committed.get(tp, 'none')}"
        )
    return None


class OutputGate:
    """Where the worker's outputs wait while the broker is not known to be the one it was using.

    Seen with the embedded broker restarted empty on the same port: the worker reconnected
    before its watch had looked, kept the old broker's metadata and wrote verdicts to topics the
    new broker did not have. Tansu stored those records without making the topics; when the
    topics were made, their offsets started at 0 over the stored records, the next writes were
    refused ("AlreadyExists") and then landed on offsets that readers skip, so verdicts were
    lost. Outputs are held from the moment the broker is seen gone until a check says it is the
    same broker; when it is not, the batches waiting fail (they are not acked, so they are read
    again) and the worker starts over.
    """

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._failure: BaseException | None = None

    @property
    def is_open(self) -> bool:
        return self._open.is_set() and self._failure is None

    def hold(self) -> None:
        if self._failure is None:
            self._open.clear()

    def release(self) -> None:
        if self._failure is None:
            self._open.set()

    def fail(self, exc: BaseException) -> None:
        """For good: every output waiting now or later raises ``exc``."""
        self._failure = exc
        self._open.set()

    async def wait(self) -> None:
        await self._open.wait()
        if self._failure is not None:
            raise self._failure


SENTINEL_RETRY_SECONDS = 0.5
SENTINEL_GIVE_UP_AFTER = 3


class BrokerSentinel:
    """A connection held open to the first bootstrap server, so that the watch learns within
    moments that the broker went away (the connection closes) rather than at its next check: a
    broker restarted between two checks is otherwise not seen until the worker has already
    written to it. Nothing is sent on it. If it cannot be opened while the broker answers the
    checks (a listener that wants something this client does not do), it is given up and the
    watch checks on its interval alone."""

    def __init__(self, settings: Settings) -> None:
        self.host, self.port = first_broker(settings.broker)
        self.context = ssl_context(settings)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.ever_connected = False
        self.failures = 0
        self.usable = True

    async def wait(self, timeout_seconds: float) -> bool:
        """Until the connection closes or ``timeout_seconds`` pass. True when the broker may
        have changed since the last check: the connection closed, could not be opened, or was
        opened again after one of those."""
        if not self.usable:
            await asyncio.sleep(timeout_seconds)
            return False
        if self.reader is None:
            try:
                self.reader, self.writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        self.host,
                        self.port,
                        ssl=self.context,
                        server_hostname=self.host if self.context else None,
                    ),
                    SENTINEL_RETRY_SECONDS * 4,
                )
            except (OSError, TimeoutError, ssl.SSLError):
                self.failures += 1
                await asyncio.sleep(min(timeout_seconds, SENTINEL_RETRY_SECONDS))
                return True
            again, self.ever_connected = self.ever_connected, True
            self.failures = 0
            if again:
                return True
        try:
            closed = await asyncio.wait_for(self.reader.read(4096), timeout_seconds) == b""
        except TimeoutError:
            return False
        except (OSError, ssl.SSLError):
            closed = True
        if closed:
            self.close()
        return True

    def answered(self) -> None:
        """The broker answered a check: a sentinel that keeps failing meanwhile is given up."""
        if self.reader is None and self.failures >= SENTINEL_GIVE_UP_AFTER:
            self.usable = False
            log.info(
                "cannot hold a connection to %s:%d although the broker answers; the watch "
                "checks every kafka.watch_interval_seconds only",
                self.host,
                self.port,
            )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def watch_broker(
    settings: Settings,
    on_reset: Callable[[str], None],
    interval_seconds: float,
    gate: OutputGate | None = None,
) -> None:
    """Check the broker every ``interval_seconds``, and at once when it goes away or comes
    back: say when it stops answering and when it is back; when it lost our topics or their
    records (an in-memory broker restarted empty, or the topics deleted), recreate what is
    missing and call ``on_reset`` so the worker can start over on the new broker. ``gate``
    holds the worker's outputs from the moment the broker is seen gone until a check finds
    it is the same one."""
    gate = gate or OutputGate()  # without one, a gate nobody waits on
    down_since: float | None = None
    last: BrokerState | None = None
    sentinel = BrokerSentinel(settings)
    try:
        while True:
            suspect = await sentinel.wait(interval_seconds)
            if suspect:
                gate.hold()
            try:
                state = await broker_state(settings, max(interval_seconds, 2.0))
            except BrokerUnreachable:
                gate.hold()
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("broker %s is not answering; waiting for it", settings.broker)
                if not suspect:  # the sentinel did not wait: do not check in a tight loop
                    await asyncio.sleep(min(interval_seconds, SENTINEL_RETRY_SECONDS))
                continue
            sentinel.answered()
            if down_since is not None:
                log.warning(
                    "broker %s answers again after %.1f s",
                    settings.broker,
                    time.monotonic() - down_since,
                )
                down_since = None
            reason = _reset_reason(last, state)
            last = state
            if reason is None:
                gate.release()
                continue
            gate.hold()
            log.warning(
                "broker %s looks restarted with empty storage: %s; recreating the topics",
                settings.broker,
                reason,
            )
            try:
                await ensure_topics(settings)
            except (BrokerError, BrokerUnreachable) as exc:  # gone again: the next round retries
                log.warning("could not recreate topics: %s", exc)
                continue
            on_reset(reason)
            # after on_reset: the worker knows why its batches fail
            gate.fail(DeliveryFailed(f"the broker lost its state ({reason})"))
    finally:
        sentinel.close()


async def delete_topics(
    admin: AIOKafkaAdminClient, names: list[str], attempts: int = 3
) -> dict[str, str]:
    """Delete ``names``; returns the ones still not deleted with their broker error.

    aiokafka's ``delete_topics`` hands back the broker's answer without looking at its per-topic
    error codes, so a refused or failed deletion would pass silently: they are read here and the
    failed names tried again (a topic already gone counts as deleted).
    """
    from aiokafka.errors import for_code

    left = list(names)
    failed: dict[str, str] = {}
    for attempt in range(attempts):
        response = await admin.delete_topics(left)
        failed = {}
        for topic, code in ((row[0], row[1]) for row in response.topic_error_codes):
            if code not in (0, 3):  # 3: unknown topic (gone already)
                failed[topic] = for_code(code).__name__
        left = [name for name in left if name in failed]
        if not left:
            return {}
        await asyncio.sleep(0.2 * (attempt + 1))
    return failed


def reply_topic_created(name: str, prefix: str) -> float | None:
    """The creation time a client wrote into its reply topic's name (``<unix seconds>-<id>``)."""
    stamp = name[len(prefix) :].split("-", 1)[0]
    return float(stamp) if stamp.isdigit() else None


async def remove_stale_reply_topics(settings: Settings, now: float | None = None) -> list[str]:
    """Delete reply topics of clients that are gone: nothing written to them (a verdict or the
    client's heartbeat) for ``inline.stale_reply_topic_seconds``. Returns the names deleted."""
    prefix = settings.inline.reply_prefix
    stale_after = settings.inline.stale_reply_topic_seconds
    now = time.time() if now is None else now
    admin = await start_client(lambda: _admin(settings, 10.0), settings, 10.0)
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.broker,
        **aiokafka_options(settings),
        client_id=f"{settings.kafka.client_id}-janitor",
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    stale: list[str] = []
    try:
        names = [n for n in await admin.list_topics() if n.startswith(prefix)]
        if not names:
            return []
        await reader.start()
        for name in names:
            newest = reply_topic_created(name, prefix)
            tp = TopicPartition(name, 0)
            reader.assign([tp])
            end = (await reader.end_offsets([tp]))[tp]
            if end > 0:
                reader.seek(tp, end - 1)
                batch = await reader.getmany(tp, timeout_ms=1000)
                stamps = [r.timestamp / 1000.0 for r in batch.get(tp, []) if r.timestamp]
                if stamps:
                    newest = max(stamps + ([newest] if newest else []))
            if newest is not None and now - newest > stale_after:
                stale.append(name)
        if stale:
            failed = await delete_topics(admin, stale)
            if failed:
                log.warning("could not delete stale reply topics: %s", failed)
            stale = [name for name in stale if name not in failed]
            log.info("deleted %d stale reply topics: %s", len(stale), ", ".join(stale[:5]))
    except KafkaError as exc:
        log.warning("could not clean up reply topics: %s", exc)
    finally:
        await _close_quietly(reader)
        await _close_quietly(admin)
    return stale


async def clean_reply_topics(settings: Settings, interval_seconds: float) -> None:
    """Run ``remove_stale_reply_topics`` every ``interval_seconds`` for the worker's life."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await remove_stale_reply_topics(settings)
        except (BrokerUnreachable, OSError) as exc:
            log.debug("reply-topic cleanup skipped: %s", exc)


@dataclass
class PublishReport:
    published: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)


def route_line(line: bytes, settings: Settings, topic: str | None) -> tuple[str, bytes | None]:
    """Pick the topic and key for one JSONL line: ``--topic`` wins, then the event's ``kind``.

    The key is the event's ``conversation_id`` where it has one, so that every turn of a
    conversation lands on one partition (its state lives with the partition), else its ``id``.
    """
    key: bytes | None = None
    kind = None
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        if isinstance(data.get("conversation_id"), str) and data["conversation_id"]:
            key = data["conversation_id"].encode()
        elif isinstance(data.get("id"), str):
            key = data["id"].encode()
        kind = data.get("kind")
    if topic is None:
        topic = settings.topics.responses if kind == "response" else settings.topics.prompts
    return topic, key


async def publish_lines(
    settings: Settings,
    lines: Iterable[bytes],
    *,
    topic: str | None = None,
    on_progress: object = None,
) -> PublishReport:
    """Publish each non-blank line as one record and wait until the broker acknowledged all."""
    producer = await start_client(
        lambda: AIOKafkaProducer(
            bootstrap_servers=settings.broker,
            **aiokafka_options(settings),
            client_id=f"{settings.kafka.client_id}-publish",
            linger_ms=5,
            max_request_size=16 * 1024 * 1024,
            acks="all",
        ),
        settings,
    )
    report = PublishReport()
    pending: list[asyncio.Future] = []
    try:
        for raw in lines:
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            target, key = route_line(line, settings, topic)
            pending.append(await producer.send(target, value=line, key=key))
            report.published += 1
            report.by_topic[target] = report.by_topic.get(target, 0) + 1
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
            if callable(on_progress):
                on_progress(1)
        await asyncio.gather(*pending)
    except KafkaError as exc:
        raise BrokerError(f"publishing failed after {report.published} records: {exc}") from None
    finally:
        await producer.stop()
    return report


@dataclass(frozen=True)
class TailedRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None  # the broker's (or producer's) record time


async def read_topic(
    settings: Settings,
    topic: str,
    *,
    max_records: int | None = None,
    timeout_seconds: float | None = None,
    from_beginning: bool = True,
) -> AsyncIterator[TailedRecord]:
    """Yield records from every partition of ``topic`` until ``max_records`` or an idle timeout."""
    consumer = await start_client(
        lambda: AIOKafkaConsumer(
            bootstrap_servers=settings.broker,
            **aiokafka_options(settings),
            client_id=f"{settings.kafka.client_id}-tail",
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest" if from_beginning else "latest",
            fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        ),
        settings,
    )
    try:
        partitions = await wait_for_partitions(consumer, topic, timeout_seconds)
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assignment)
        if from_beginning:
            await consumer.seek_to_beginning(*assignment)
        else:
            await consumer.seek_to_end(*assignment)
        seen = 0
        idle_deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        while max_records is None or seen < max_records:
            wait_ms = 500
            if idle_deadline is not None:
                left = idle_deadline - time.monotonic()
                if left <= 0:
                    return
                wait_ms = max(1, min(500, int(left * 1000)))
            batches = await consumer.getmany(timeout_ms=wait_ms, max_records=1000)
            for records in batches.values():
                for record in records:
                    yield TailedRecord(
                        record.topic,
                        record.partition,
                        record.offset,
                        record.key,
                        record.value,
                        record.timestamp,
                    )
                    seen += 1
                    if timeout_seconds is not None:
                        idle_deadline = time.monotonic() + timeout_seconds
                    if max_records is not None and seen >= max_records:
                        return
    finally:
        await consumer.stop()


async def wait_for_partitions(
    consumer: AIOKafkaConsumer, topic: str, timeout_seconds: float | None
) -> set[int]:
    deadline = time.monotonic() + (timeout_seconds if timeout_seconds is not None else 10.0)
    while True:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return set(partitions)
        # The consumer's own metadata covers only topics it already knows; ask for all of them
        # (a request that names the topic would make some brokers auto-create it).
        fresh = await consumer._client.fetch_all_metadata()
        partitions = fresh.partitions_for_topic(topic)
        if partitions:
            return set(partitions)
        if time.monotonic() >= deadline:
            raise BrokerError(f"topic {topic!r} does not exist on the broker")
        await asyncio.sleep(0.2)


RecordHandler = Callable[[bytes | None, bytes | None], Any]


class TopicFollower:
    """Every partition of one topic, read from the beginning and then followed as it grows: how
    each worker keeps the policies topic (a compacted topic is a table: the latest record per key
    counts). No consumer group, so every follower sees every record at once.

    ``start`` returns once the records that were there at start are handed to ``on_record``;
    ``follow`` then hands over each new one within about ``wait_ms`` of its write.
    """

    def __init__(
        self, settings: Settings, topic: str, on_record: RecordHandler, wait_ms: int = 50
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.on_record = on_record
        self.wait_ms = wait_ms
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self, timeout_seconds: float | None = None) -> None:
        settings = self.settings
        consumer = await start_client(
            lambda: AIOKafkaConsumer(
                bootstrap_servers=settings.broker,
                **aiokafka_options(settings),
                client_id=f"{settings.kafka.client_id}-follow",
                enable_auto_commit=False,
                group_id=None,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=self.wait_ms,
            ),
            settings,
            timeout_seconds,
        )
        self.consumer = consumer
        try:
            partitions = await wait_for_partitions(consumer, self.topic, timeout_seconds)
            assignment = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(assignment)
            await consumer.seek_to_beginning(*assignment)
            ends = await consumer.end_offsets(assignment)
            while not await self._caught_up(ends):
                await self.poll()
        except BaseException:
            await self.stop()
            raise

    async def _caught_up(self, ends: dict[TopicPartition, int]) -> bool:
        assert self.consumer is not None
        for tp, end in ends.items():
            if await self.consumer.position(tp) < end:
                return False
        return True

    async def poll(self) -> None:
        """Hand over what one fetch returns (waits at most ``wait_ms`` for it)."""
        assert self.consumer is not None
        batches = await self.consumer.getmany(timeout_ms=self.wait_ms, max_records=1000)
        for records in batches.values():
            for record in records:
                try:
                    self.on_record(record.key, record.value)
                except Exception:  # noqa: BLE001 - one bad record must not stop the follower
                    log.exception("could not apply a record of %s", self.topic)

    async def follow(self) -> None:
        """Hand over new records until cancelled; a broker that goes away is waited for."""
        while True:
            try:
                await self.poll()
            except KafkaError as exc:
                log.warning("reading %s failed (%s); retrying", self.topic, exc)
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self.consumer is not None:
            await _close_quietly(self.consumer)
            self.consumer = None


async def write_record(settings: Settings, topic: str, key: bytes, value: bytes | None) -> None:
    """One record (``None``: a tombstone), acknowledged by every in-sync replica."""
    producer = await start_client(
        lambda: AIOKafkaProducer(
            bootstrap_servers=settings.broker,
            **aiokafka_options(settings),
            client_id=f"{settings.kafka.client_id}-write",
            acks="all",
        ),
        settings,
    )
    try:
        await producer.send_and_wait(topic, value=value, key=key)
    except KafkaError as exc:
        raise BrokerError(f"writing to {topic} failed: {exc}") from None
    finally:
        await producer.stop()


class LazyProducer:
    """An aiokafka producer of its own, started on its first record: the reply sender and the
    changelog writer each need one beside faust's, and only once there is something to send."""

    def __init__(self, settings: Settings, name: str, **options: Any) -> None:
        self.settings = settings
        self.name = name
        self.options = options
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def get(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._starting:
            if self._producer is None:
                settings = self.settings
                self._producer = await start_client(
                    lambda: AIOKafkaProducer(
                        bootstrap_servers=settings.broker,
                        **aiokafka_options(settings),
                        client_id=f"{settings.kafka.client_id}-{self.name}",
                        **self.options,
                    ),
                    settings,
                )
        return self._producer

    async def close(self) -> None:
        if self._producer is not None:
            await _close_quietly(self._producer)
            self._producer = None


async def queued(sending: Awaitable[asyncio.Future]) -> asyncio.Future:
    """The future of a record (or record batch) being queued for the broker; one that could not
    even be queued comes back as a future that failed, so a caller retries it like a record the
    broker refused."""
    try:
        return await sending
    except Exception as exc:  # noqa: BLE001 - refused before it was even queued
        future = asyncio.get_running_loop().create_future()
        future.set_exception(exc)
        return future


# One record to send: (topic, key, value, partition or None for the key's partition).
Record = tuple[str, bytes | None, bytes | None, int | None]


class RecordBatches(LazyProducer):
    """A producer that sends many records as one record batch per partition.

    ``AIOKafkaProducer.send`` costs a coroutine, a partitioner call, a future and its callback per
    record; a worker's batch of verdicts goes to a handful of partitions, so building each
    partition's record batch ourselves and handing it over whole (``send_batch``) pays that once
    per partition. The partition of a keyed record is the one ``send`` would choose (Kafka's
    murmur2 partitioner, hashed for all of a batch's keys at once), so verdicts land where a
    keyed reader expects them.
    """

    last_alone = False  # each partition's last record in a batch of its own (ChangelogBatches)

    def __init__(self, settings: Settings, name: str, *, max_record_bytes: int) -> None:
        self.max_batch_bytes = max(1 << 20, max_record_bytes)
        super().__init__(
            settings,
            name,
            acks="all",
            linger_ms=0,
            max_batch_size=self.max_batch_bytes,
            max_request_size=2 * self.max_batch_bytes,
        )

    async def send_many(self, records: list[Record]) -> list[tuple[asyncio.Future, list[int]]]:
        """Queue every record; returns, per record batch sent, the future that resolves once the
        broker acknowledged it and the indices of ``records`` it holds. A batch that could not
        even be queued comes back as a future that failed, so the caller retries it like one
        the broker refused."""
        producer = await self.get()
        by_partition: dict[tuple[str, int], list[int]] = {}
        known: dict[str, set[int]] = {}
        for topic in {record[0] for record in records}:
            await producer.client._wait_on_metadata(topic)
            known[topic] = producer.client.cluster.partitions_for_topic(topic) or set()
        chosen = self._key_partitions(producer, records, known)
        choose = producer._partition
        for index, (topic, key, value, partition) in enumerate(records):
            if partition is None:
                partition = chosen.get(index)
                if partition is None:
                    partition = choose(topic, None, key, value, key, value)
            by_partition.setdefault((topic, partition), []).append(index)
        sent: list[tuple[asyncio.Future, list[int]]] = []
        for (topic, partition), indices in by_partition.items():
            if partition not in known[topic]:
                # aiokafka asserts "Unrecognized partition" (under python -O the batch waits
                # out its request timeout instead); name what is wrong, retry like a refusal.
                missing = asyncio.get_running_loop().create_future()
                missing.set_exception(
                    BrokerError(
                        f"topic {topic} has no partition {partition} (it has {len(known[topic])})"
                    )
                )
                sent.append((missing, indices))
                continue
            runs = [indices]
            if self.last_alone and len(indices) > 1:
                runs = [indices[:-1], indices[-1:]]
            for run in runs:
                sent += await self._send_run(producer, topic, partition, records, run)
        return sent

    @staticmethod
    def _key_partitions(
        producer: AIOKafkaProducer, records: list[Record], known: dict[str, set[int]]
    ) -> dict[int, int]:
        """The partition of each keyed record without one, all of a topic's keys hashed
        together (``partitioning.key_partitions``: the partitions aiokafka's default partitioner
        gives, at a seventh of its cost). Empty when the producer has another partitioner."""
        if type(producer._partitioner) is not DefaultPartitioner:
            return {}
        keyed: dict[str, list[int]] = {}
        for index, (topic, key, _, partition) in enumerate(records):
            if partition is None and key is not None and known[topic]:
                keyed.setdefault(topic, []).append(index)
        chosen: dict[int, int] = {}
        for topic, indices in keyed.items():
            ids = sorted(known[topic])
            partitions = key_partitions([records[i][1] for i in indices], ids)  # type: ignore[misc]
            chosen.update(zip(indices, partitions, strict=True))
        return chosen

    @staticmethod
    async def _send_run(
        producer: AIOKafkaProducer,
        topic: str,
        partition: int,
        records: list[Record],
        indices: list[int],
    ) -> list[tuple[asyncio.Future, list[int]]]:
        """``indices`` of one partition, in as few record batches as they fit in, in order."""
        sent: list[tuple[asyncio.Future, list[int]]] = []
        batch, held = producer.create_batch(), []
        for index in indices:
            _, key, value, _ = records[index]
            if batch.append(key=key, value=value, timestamp=None) is None:
                if held:
                    submitted = producer.send_batch(batch, topic, partition=partition)
                    sent.append((await queued(submitted), held))
                    batch, held = producer.create_batch(), []
                if batch.append(key=key, value=value, timestamp=None) is None:
                    # larger than any batch: send alone, so the broker's answer names it
                    alone = producer.send(topic, value, key=key, partition=partition)
                    sent.append((await queued(alone), [index]))
                    continue
            held.append(index)
        if held:
            submitted = producer.send_batch(batch, topic, partition=partition)
            sent.append((await queued(submitted), held))
        return sent


class ChangelogBatches(RecordBatches):
    """Record batches for changelog topics whose last record always stands in a batch of its own.

    Tansu answers a partition's end offset with the base offset of its last record batch + 1, so
    after a batch of several records the end it reports is too low, and faust's table recovery
    trusts it (it stops there: stale state). Sending each partition's records as one batch and
    then its last record alone keeps the reported end exact, on any broker, for two requests a
    partition instead of one a record: with a batch per record the changelog cost the worker
    about a third of its throughput on conversation traffic (each record a produce round trip,
    in the event loop and in the broker, beside the model's threads). One producer sends both,
    and aiokafka keeps one batch in flight per partition, so they land in order.
    """

    last_alone = True
