"""Inline checks through Kafka: an application awaits the verdict of its own event.

Request-reply over the stream (the pattern of Spring Kafka's ReplyingKafkaTemplate): each client
owns a reply topic ``<replies prefix><client id>`` with one partition, created when it starts and
deleted when it closes. An event goes to the prompts or responses topic with a reply-to header
naming that topic and a correlation-id header holding the event id; the worker batches it with
everything else and also writes its verdict (or dead letter) to the reply topic, keyed by the id.
The client reads its reply topic by partition assignment (no group join, so no join delay) and
only while checks are pending: an idle client sends no fetches at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Future as ThreadFuture
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from llm_shield.registry.errors import ShieldError
from llm_shield.streams.config import Settings, load_settings
from llm_shield.streams.errors import BrokerError
from llm_shield.streams.events import CORRELATION_HEADER, KINDS, REPLY_TO_HEADER
from llm_shield.streams.kafka import delete_topics, start_client
from llm_shield.streams.security import aiokafka_options

log = logging.getLogger(__name__)

HEARTBEAT_HEADER = "llm-shield-heartbeat"
TIMEOUT_POLICIES = ("raise", "allow", "block")


class CheckTimeout(ShieldError):
    """No verdict arrived in time (no worker running, or the worker is overloaded)."""

    exit_code = 12


class CheckRejected(ShieldError):
    """The worker dead-lettered the event (too large, invalid field); the reason says why."""

    exit_code = 2

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"the worker rejected the event: {reason} ({detail})")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class CheckResult:
    """A verdict as the client sees it: the decision, and the whole verdict record as ``raw``.

    ``timed_out`` is true for a verdict the client made up by its timeout policy (fail open:
    ``allow``, fail closed: ``block``); such a verdict has no scanners.
    """

    id: str
    decision: str
    risk_score: float
    timed_out: bool
    latency_ms: float
    raw: dict[str, Any] = field(repr=False)

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    @property
    def scanners(self) -> dict[str, Any]:
        return self.raw.get("scanners", {})

    @classmethod
    def from_verdict(cls, verdict: dict[str, Any], latency_ms: float) -> CheckResult:
        return cls(
            id=str(verdict.get("id")),
            decision=str(verdict.get("decision")),
            risk_score=float(verdict.get("risk_score") or 0.0),
            timed_out=False,
            latency_ms=round(latency_ms, 2),
            raw=verdict,
        )


@dataclass
class ClientStats:
    checks: int = 0
    answered: int = 0
    timeouts: int = 0
    rejected: int = 0
    late_replies: int = 0  # replies that came after their check had timed out


def reply_topic_name(prefix: str, client_id: str) -> str:
    """``<prefix><unix seconds>-<random>``: the creation time in the name lets stale topics of
    crashed clients be found by age."""
    return f"{prefix}{client_id}"


def new_client_id() -> str:
    return f"{int(time.time())}-{uuid.uuid4().hex[:12]}"


class ShieldClient:
    """``async with ShieldClient(settings) as shield: verdict = await shield.check(text)``."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        broker: str | None = None,
        timeout_seconds: float | None = None,
        on_timeout: str | None = None,
        client_id: str | None = None,
    ) -> None:
        if settings is None:
            settings = load_settings(None, {"broker": broker})
        elif broker is not None:
            settings = dataclasses.replace(settings, broker=broker)
        self.settings = settings
        inline = settings.inline
        self.timeout_seconds = timeout_seconds or inline.timeout_seconds
        self.on_timeout = on_timeout or inline.on_timeout
        if self.on_timeout not in TIMEOUT_POLICIES:
            raise ValueError(f"on_timeout must be one of {', '.join(TIMEOUT_POLICIES)}")
        self.client_id = client_id or new_client_id()
        self.reply_topic = reply_topic_name(inline.reply_prefix, self.client_id)
        self.stats = ClientStats()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._wanted = asyncio.Event()
        self._partition = TopicPartition(self.reply_topic, 0)

    # -------------------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> ShieldClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        settings = self.settings
        options = aiokafka_options(settings)
        await self._create_reply_topic()
        self._producer = await start_client(
            lambda: AIOKafkaProducer(
                bootstrap_servers=settings.broker,
                **options,
                client_id=f"{settings.kafka.client_id}-check",
                linger_ms=0,
                acks="all",
                max_request_size=max(settings.input.max_event_bytes * 2, 1 << 20),
            ),
            settings,
        )
        self._consumer = await start_client(
            lambda: AIOKafkaConsumer(
                bootstrap_servers=settings.broker,
                **options,
                client_id=f"{settings.kafka.client_id}-replies",
                group_id=None,
                enable_auto_commit=False,
                fetch_max_wait_ms=settings.inline.fetch_max_wait_ms,
                auto_offset_reset="earliest",
            ),
            settings,
        )
        self._consumer.assign([self._partition])
        await self._consumer.seek_to_beginning(self._partition)
        self._consumer.pause(self._partition)
        self._reader = asyncio.ensure_future(self._read_replies())
        self._heartbeat = asyncio.ensure_future(self._beat())

    async def close(self) -> None:
        for task in (self._reader, self._heartbeat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, KafkaError):
                    await task
        for future in self._pending.values():
            if not future.done():
                future.cancel()
        self._pending.clear()
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(KafkaError, OSError):
                    await client.stop()
        self._consumer = self._producer = None
        await self._delete_reply_topic()

    def _admin(self) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(
            bootstrap_servers=self.settings.broker,
            **aiokafka_options(self.settings),
            client_id=f"{self.settings.kafka.client_id}-check-admin",
        )

    async def _create_reply_topic(self) -> None:
        admin = await start_client(self._admin, self.settings)
        try:
            await admin.create_topics(
                [NewTopic(self.reply_topic, 1, self.settings.kafka.replication_factor)]
            )
        except TopicAlreadyExistsError:
            pass
        except KafkaError as exc:
            raise BrokerError(
                f"could not create the reply topic {self.reply_topic}: {exc}"
            ) from None
        finally:
            await admin.close()

    async def _delete_reply_topic(self) -> None:
        try:
            admin = await start_client(self._admin, self.settings, timeout_seconds=5.0)
        except ShieldError as exc:
            log.warning("could not delete reply topic %s: %s", self.reply_topic, exc)
            return
        try:
            failed = await delete_topics(admin, [self.reply_topic])
            if failed:  # the workers' cleanup removes it once it is stale
                log.warning("could not delete reply topic %s: %s", self.reply_topic, failed)
        except (KafkaError, OSError) as exc:
            log.warning("could not delete reply topic %s: %s", self.reply_topic, exc)
        finally:
            await admin.close()

    # ---------------------------------------------------------------------------- checking

    async def check(
        self,
        text: str,
        *,
        kind: str = "prompt",
        tenant: str | None = None,
        conversation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timeout_seconds: float | None = None,
        event_id: str | None = None,
    ) -> CheckResult:
        """The verdict of ``text``; on timeout, the client's policy (raise, allow or block)."""
        event = _event(text, kind, tenant, conversation_id, metadata, event_id)
        return (await self._check_events([event], timeout_seconds))[0]

    async def check_many(
        self,
        items: Sequence[str | Mapping[str, Any]],
        *,
        kind: str = "prompt",
        tenant: str | None = None,
        timeout_seconds: float | None = None,
    ) -> list[CheckResult]:
        """Many checks at once, in order; they share the worker's batches."""
        events = [
            _event(item, kind, tenant, None, None, None)
            if isinstance(item, str)
            else _event(
                str(item.get("text", "")),
                str(item.get("kind", kind)),
                item.get("tenant", tenant),
                item.get("conversation_id"),
                item.get("metadata"),
                item.get("id"),
            )
            for item in items
        ]
        return await self._check_events(events, timeout_seconds)

    async def _check_events(
        self, events: list[dict[str, Any]], timeout_seconds: float | None
    ) -> list[CheckResult]:
        if self._producer is None or self._consumer is None:
            raise RuntimeError("ShieldClient is not started (use `async with ShieldClient(...)`)")
        timeout = timeout_seconds or self.timeout_seconds
        loop = asyncio.get_running_loop()
        futures = []
        for event in events:
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            self._pending[event["id"]] = future
            futures.append(future)
        self._wake()
        started = time.perf_counter()
        topics = self.settings.topics
        headers = [
            (REPLY_TO_HEADER, self.reply_topic.encode()),
        ]
        try:
            sends = []
            for event in events:
                topic = topics.responses if event["kind"] == "response" else topics.prompts
                sends.append(
                    await self._producer.send(
                        topic,
                        value=orjson.dumps(event),
                        # A conversation's turns share a partition, where its state lives.
                        key=(event.get("conversation_id") or event["id"]).encode(),
                        headers=[*headers, (CORRELATION_HEADER, event["id"].encode())],
                    )
                )
            await asyncio.gather(*sends)
        except KafkaError as exc:
            for event in events:
                self._pending.pop(event["id"], None)
            raise BrokerError(f"could not publish the check: {exc}") from None
        self.stats.checks += len(events)
        try:
            done, _ = await asyncio.wait(futures, timeout=timeout)
        finally:  # also when the caller is cancelled: no pending future is left behind
            for event, future in zip(events, futures, strict=True):
                self._pending.pop(event["id"], None)
                if not future.done():
                    future.cancel()
        latency_ms = (time.perf_counter() - started) * 1000.0
        results = []
        rejected: CheckRejected | None = None
        timed_out: list[str] = []
        for event, future in zip(events, futures, strict=True):
            if future in done and not future.cancelled():
                record = future.result()
                if str(record.get("schema", "")).startswith("llm-shield.deadletter"):
                    self.stats.rejected += 1
                    rejected = rejected or CheckRejected(
                        str(record.get("reason")), str(record.get("detail"))
                    )
                    continue
                self.stats.answered += 1
                results.append(CheckResult.from_verdict(record, latency_ms))
                continue
            self.stats.timeouts += 1
            timed_out.append(event["id"])
            results.append(_timeout_verdict(event, self.on_timeout, latency_ms))
        if rejected is not None:
            raise rejected
        if timed_out and self.on_timeout == "raise":
            raise CheckTimeout(
                f"no verdict for {len(timed_out)} of {len(events)} events within {timeout:g} s "
                f"(is a worker running against {self.settings.broker}?)"
            )
        return results

    # ------------------------------------------------------------------------------ replies

    def _wake(self) -> None:
        if self._consumer is not None and not self._wanted.is_set():
            self._consumer.resume(self._partition)
            self._wanted.set()

    async def _read_replies(self) -> None:
        """Resolve pending checks from the reply topic; pause the partition when none are
        pending, so an idle client does not poll the broker."""
        assert self._consumer is not None
        consumer = self._consumer
        while True:
            await self._wanted.wait()
            try:
                batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            except UnknownTopicOrPartitionError:
                await self._create_reply_topic()  # deleted as stale while we were idle
                continue
            for records in batches.values():
                for record in records:
                    self._resolve(record)
            if not self._pending:
                consumer.pause(self._partition)
                self._wanted.clear()
                if self._pending:  # a check arrived in between
                    self._wake()

    def _resolve(self, record: Any) -> None:
        headers = dict(record.headers or ())
        if HEARTBEAT_HEADER in headers or record.key is None:
            return
        future = self._pending.get(record.key.decode("utf-8", errors="replace"))
        if future is None or future.done():
            self.stats.late_replies += 1
            return
        try:
            future.set_result(orjson.loads(record.value))
        except orjson.JSONDecodeError as exc:
            future.set_exception(BrokerError(f"unreadable reply: {exc}"))

    async def _beat(self) -> None:
        """A heartbeat record now and then keeps the reply topic from looking stale."""
        interval = max(self.settings.inline.stale_reply_topic_seconds / 4, 1.0)
        while True:
            await asyncio.sleep(interval)
            if self._producer is None:
                return
            try:
                await self._producer.send_and_wait(
                    self.reply_topic, value=b"", headers=[(HEARTBEAT_HEADER, b"1")]
                )
            except KafkaError as exc:
                log.warning("heartbeat to %s failed: %s", self.reply_topic, exc)


def _event(
    text: str,
    kind: str,
    tenant: str | None,
    conversation_id: str | None,
    metadata: Mapping[str, Any] | None,
    event_id: str | None,
) -> dict[str, Any]:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    event: dict[str, Any] = {"id": event_id or uuid.uuid4().hex, "text": text, "kind": kind}
    if tenant is not None:
        event["tenant"] = tenant
    if conversation_id is not None:
        event["conversation_id"] = conversation_id
    if metadata:
        event["metadata"] = dict(metadata)
    return event


def _timeout_verdict(event: dict[str, Any], policy: str, latency_ms: float) -> CheckResult:
    decision = "allow" if policy == "allow" else "block"
    raw = {
        "schema": "llm-shield.verdict/v1",
        "id": event["id"],
        "kind": event["kind"],
        "decision": decision,
        "risk_score": 0.0 if decision == "allow" else 1.0,
        "scanners": {},
        "timed_out": True,
    }
    return CheckResult(event["id"], decision, raw["risk_score"], True, round(latency_ms, 2), raw)


class SyncShieldClient:
    """The client for code that is not async: an event loop of its own on a background thread.

    ``with SyncShieldClient(settings) as shield: shield.check("hello")``.
    """

    def __init__(self, settings: Settings | None = None, **options: Any) -> None:
        self._options = options
        self._settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"llm-shield-client-{os.getpid()}", daemon=True
        )
        self._client: ShieldClient | None = None

    def _run(self, coroutine: Any) -> Any:
        future: ThreadFuture = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()

    def __enter__(self) -> SyncShieldClient:
        self._thread.start()

        async def make() -> ShieldClient:
            client = ShieldClient(self._settings, **self._options)
            await client.start()
            return client

        self._client = self._run(make())
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def check(self, text: str, **options: Any) -> CheckResult:
        assert self._client is not None, "use `with SyncShieldClient(...)`"
        return self._run(self._client.check(text, **options))

    def check_many(self, items: Sequence[str | Mapping[str, Any]], **options: Any) -> list[Any]:
        assert self._client is not None, "use `with SyncShieldClient(...)`"
        return self._run(self._client.check_many(items, **options))

    @property
    def stats(self) -> ClientStats:
        assert self._client is not None
        return self._client.stats
