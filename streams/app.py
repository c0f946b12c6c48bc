"""The Faust app: the five SPEC topics and one batching agent per input topic.

The agents only move bytes: take a batch of the intake's chunks within the window, hand it to the
pipeline in a worker thread (so the consumer keeps heart-beating), publish what comes back, and ack
each input only after its outputs were acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import faust

from llm_shield.streams.config import Settings
from llm_shield.streams.errors import DeliveryFailed
from llm_shield.streams.events import (
    CORRELATION_HEADER,
    REPLY_TO_HEADER,
    DeadLetter,
    RawRecord,
)
from llm_shield.streams.intake import Chunk, Intake, divert_fetches
from llm_shield.streams.kafka import ChangelogBatches, OutputGate, RecordBatches
from llm_shield.streams.pipeline import Outcome, Pipeline
from llm_shield.streams.replies import ReplyRouter, ReplySender, header
from llm_shield.streams.security import faust_credentials
from llm_shield.streams.stats import WindowCounts, WindowKey, window_record

log = logging.getLogger(__name__)

# A batch's outputs are sent this many times at most, waiting 0.5 s, then 1 s, ... between.
DELIVERY_ATTEMPTS = 4
DELIVERY_BACKOFF_SECONDS = 0.5

OutcomeSink = Callable[[Sequence[Outcome]], None]


class FetchPacer:
    """The worker consumer's fetch wait: short while events arrive, long when the worker is idle.

    A broker that answers a fetch only when its wait ends (Tansu does) holds an event that lands
    just after a fetch went out until that wait is over: with 100 ms, an inline check on a quiet
    worker waits up to 100 ms before it is even read. A short wait all the time costs CPU on an
    idle worker (a fetch every few ms), so the wait is short only while events keep coming and
    for ``active_after_seconds`` after the last one. aiokafka reads the wait when it builds each
    fetch request, so a change takes effect from the next fetch.
    """

    def __init__(self, idle_ms: int, active_ms: int, active_after_seconds: float) -> None:
        self.idle_ms = idle_ms
        self.active_ms = active_ms
        self.active_after = active_after_seconds
        self.active = False
        self.switches = 0
        self._last_event = 0.0
        self._consumers: list[Any] = []

    @property
    def enabled(self) -> bool:
        return self.active_ms < self.idle_ms

    def adopt(self, consumer: Any) -> None:
        """Called with faust's aiokafka consumer before it starts (it copies the wait then)."""
        consumer._fetch_max_wait_ms = self.active_ms if self.active else self.idle_ms
        self._consumers.append(consumer)

    def _set(self, milliseconds: int) -> None:
        for consumer in self._consumers:
            consumer._fetch_max_wait_ms = milliseconds
            fetcher = getattr(consumer, "_fetcher", None)
            if fetcher is not None:
                fetcher._fetch_max_wait_ms = milliseconds

    def saw_events(self) -> None:
        self._last_event = time.monotonic()
        if self.enabled and not self.active:
            self.active = True
            self.switches += 1
            self._set(self.active_ms)

    def tick(self) -> None:
        if self.active and time.monotonic() - self._last_event > self.active_after:
            self.active = False
            self._set(self.idle_ms)


def pace_fetches(pacer: FetchPacer) -> None:
    """Hand faust's worker consumer to ``pacer`` (faust-streaming has no fetch-wait setting and
    hard-codes 1,500 ms): we wrap the one method that builds the aiokafka consumer."""
    from faust.transport.drivers import aiokafka as faust_aiokafka

    thread = faust_aiokafka.AIOKafkaConsumerThread
    original = getattr(thread, "_llm_shield_original_create", None)
    if original is None:
        original = thread._create_worker_consumer
        thread._llm_shield_original_create = original  # type: ignore[attr-defined]

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        pacer.adopt(consumer)
        return consumer

    thread._create_worker_consumer = create  # type: ignore[method-assign]


# One output of a batch: (to the changelog?, topic, key, value, partition).
Output = tuple[bool, str, bytes | None, bytes | None, int | None]


SentGroup = tuple[asyncio.Future, list[Output]]


async def send_with_retries(
    outputs: Sequence[Output],
    send_many: Callable[[list[Output]], Awaitable[list[SentGroup]]],
    *,
    attempts: int = DELIVERY_ATTEMPTS,
    backoff_seconds: float = DELIVERY_BACKOFF_SECONDS,
) -> None:
    """Send every output and wait for the broker's acks; what the broker refused is sent again
    (seen in CI: Tansu answered a produce with UnknownError just after it came back with empty
    storage, and the agent died with the batch). ``send_many`` queues outputs and returns, per
    request it made, the future of the broker's answer and the outputs it carried; a refused
    request's outputs are sent again, and only they. What is still refused after the last
    attempt raises ``DeliveryFailed``; the batch is then not acked, so its offsets are never
    committed and it is scanned again.
    """
    remaining = list(outputs)
    for attempt in range(1, attempts + 1):
        groups = await send_many(remaining)
        results = await asyncio.gather(*(future for future, _ in groups), return_exceptions=True)
        refused = [
            (carried, result)
            for (_, carried), result in zip(groups, results, strict=True)
            if isinstance(result, BaseException)
        ]
        if not refused:
            return
        for _, result in refused:
            if not isinstance(result, Exception):  # cancelled: stopping, not refused
                raise result
        remaining = [output for carried, _ in refused for output in carried]
        reason = refused[0][1]
        if attempt == attempts:
            raise DeliveryFailed(
                f"the broker refused {len(remaining)} of {len(outputs)} outputs of a batch "
                f"{attempts} times ({type(reason).__name__}: {reason})"
            ) from reason
        log.warning(
            "the broker refused %d of %d outputs (%s: %s); sending them again in %.1f s",
            len(remaining),
            len(outputs),
            type(reason).__name__,
            reason,
            backoff_seconds,
        )
        await asyncio.sleep(backoff_seconds)
        backoff_seconds *= 2


def _faust_folder(settings: Settings) -> Path:
    """faust's own folder (it makes one even for in-memory tables): beside the result cache,
    owner-only, not ``<group>-data`` in whatever directory the worker was started from."""
    parent = settings.cache_dir.parent / "faust"
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return parent / f"{settings.group_id}-data"


def faust_broker_urls(broker: str) -> list[str]:
    return [f"kafka://{part.strip()}" for part in broker.split(",") if part.strip()]


def create_app(
    settings: Settings,
    pipeline: Pipeline,
    *,
    on_outcomes: OutcomeSink | None = None,
    on_ready: Callable[[], Any] | None = None,
    on_batch: Callable[[int, float], None] | None = None,
    on_reply_refused: Callable[[str], None] | None = None,
    on_delivery_failed: Callable[[DeliveryFailed], None] | None = None,
    output_gate: OutputGate | None = None,
) -> faust.App:
    """Build the worker app; nothing connects until a ``faust.Worker`` starts it.

    ``on_delivery_failed`` is told when a batch's outputs could not be delivered: the agent that
    failed stops consuming, so the worker must stop (or start over) rather than sit idle.
    ``output_gate`` holds every output while the broker may have changed (``watch_broker``).
    """
    kafka = settings.kafka
    pacer = FetchPacer(
        kafka.fetch_max_wait_ms, kafka.active_fetch_max_wait_ms, kafka.active_after_seconds
    )
    pace_fetches(pacer)
    app = faust.App(
        settings.group_id,
        broker=faust_broker_urls(settings.broker),
        broker_client_id=settings.kafka.client_id,
        broker_credentials=faust_credentials(settings),
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        datadir=str(_faust_folder(settings)),
        autodiscover=False,
        web_enabled=False,
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        topic_disable_leader=True,
        broker_session_timeout=settings.kafka.session_timeout_seconds,
        broker_rebalance_timeout=settings.kafka.rebalance_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.kafka.session_timeout_seconds / 3),
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.kafka.commit_interval_seconds,
        producer_acks=-1,
        # The conversation table lives in memory: a new owner of a partition re-reads its whole
        # changelog either way, so standby copies would only cost memory (and faust applies
        # them in batches of 1,000, so they are not current anyway).
        table_standby_replicas=0,
    )
    topics = settings.topics

    def topic(name: str) -> faust.TopicT:
        return app.topic(
            name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    # Output topics are created by ``ensure_topics`` and written through the producer directly.
    prompts, responses = topic(topics.prompts), topic(topics.responses)
    # One thread: the pipeline is CPU-bound and not re-entrant; both agents queue on it.
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-shield-pipeline")
    batch = settings.batching

    replies = ReplyRouter(settings.inline.reply_prefix, on_reply_refused)
    answer = ReplySender(settings)
    # The batch's outputs go through a producer of their own, one record batch per partition.
    output_writer = RecordBatches(
        settings, "outputs", max_record_bytes=2 * settings.input.max_event_bytes
    )

    conversations = pipeline.conversations
    changelog: str | None = None
    changelog_writer: ChangelogBatches | None = None
    if conversations is not None:
        # The conversation state: a Faust table whose changelog is partitioned like the inputs
        # (key events by conversation_id so a conversation stays on one partition). Faust creates
        # the changelog, recovers a partition's states when the worker gets the partition (after
        # a restart, on a rebalance) and drops them when it loses it; the worker writes the
        # changes itself, beside the verdicts, so they are acknowledged before the inputs.
        table = app.Table(
            "conversations",
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=settings.kafka.partitions,
            help="llm-shield conversation state by conversation_id",
        )
        store = table.data
        conversations.bind(store.data, store._key_partition)
        changelog = table.changelog_topic_name
        changelog_writer = ChangelogBatches(
            settings, "changelog", max_record_bytes=2 * settings.input.max_event_bytes
        )

        @table.on_recover
        async def _reindex() -> None:
            conversations.reindex()
            log.info("conversation state: %d conversations held", len(conversations))

        every = max(1.0, min(60.0, settings.conversations.idle_seconds / 4))

        @app.timer(every, name="llm-shield-conversations-expiry")
        async def _expire() -> None:
            gone = conversations.expire()
            if gone:
                tombstones = [(changelog, key, None, where) for where, key in gone]
                sent = await changelog_writer.send_many(tombstones)
                await asyncio.gather(*[future for future, _held in sent])

        @app.on_before_shutdown.connect  # after the agents: their last changes are sent
        async def _stop_changelog(sender: Any, **kwargs: Any) -> None:
            await changelog_writer.close()

    def scan(records: Sequence[RawRecord]) -> tuple[list[Outcome], list]:
        """The pipeline on one batch, and the conversation changes it made (taken in the same
        thread, so another batch's changes never ride along)."""
        outcomes = pipeline.process(records)
        return outcomes, conversations.drain() if conversations is not None else []

    async def publish(
        records: Sequence[RawRecord], outcomes: Sequence[Outcome], changes: Sequence = ()
    ) -> None:
        """Hand every output to the producer, then wait for all the broker's acks.

        The transport producer is used directly: faust's ``Topic.send`` wraps each record in
        futures and callbacks we do not need (they cost more per verdict than building it).
        A reply to an inline client goes out beside the verdict on the reply sender, which
        never holds the batch back (a client that is gone just misses its reply).
        """
        outputs: list[Output] = []
        for record, outcome in zip(records, outcomes, strict=True):
            reply_to = replies.topic_for(record)
            body = outcome.to_json()
            if isinstance(outcome, DeadLetter):
                outputs.append((False, topics.deadletter, None, body, None))
                answer_id = outcome.id or record.correlation_id
                if reply_to is not None and answer_id:
                    answer.send(reply_to, answer_id.encode(), body)
                continue
            key = outcome.id.encode()
            outputs.append((False, topics.verdicts, key, body, None))
            if outcome.is_alert:
                outputs.append((False, topics.alerts, key, body, None))
            if reply_to is not None:
                answer.send(reply_to, key, body)
        for partition, key, value in changes:
            outputs.append((True, changelog, key, value, partition))
        await send_with_retries(outputs, send_many)

    async def send_many(outputs: list[Output]) -> list[SentGroup]:
        """Verdicts, alerts and dead letters as one record batch per partition; changelog
        records likewise, each partition's last one in a batch of its own (see
        ``ChangelogBatches``). Each attempt first waits for ``output_gate``."""
        if output_gate is not None:
            await output_gate.wait()
        groups: list[SentGroup] = []
        for writer, to_changelog in ((output_writer, False), (changelog_writer, True)):
            chosen = [output for output in outputs if output[0] is to_changelog]
            if chosen and writer is not None:
                sent = await writer.send_many([output[1:] for output in chosen])
                groups += [(future, [chosen[i] for i in held]) for future, held in sent]
        return groups

    async def deliver(
        chunks: Sequence[Chunk],
        records: Sequence[RawRecord],
        scanned: tuple[list[Outcome], list],
    ) -> None:
        """Publish a batch's outputs and conversation changes, then ack its inputs: an offset is
        only committable once every verdict of its batch is acknowledged by the broker."""
        outcomes, changes = scanned
        try:
            await publish(records, outcomes, changes)
        except BaseException as exc:
            intake.release(chunks)
            if isinstance(exc, DeliveryFailed) and on_delivery_failed is not None:
                on_delivery_failed(exc)
            raise
        intake.ack(chunks)
        if on_outcomes is not None:
            on_outcomes(outcomes)

    def to_records(chunks: Sequence[Chunk], default_kind: str) -> list[RawRecord]:
        return [
            RawRecord(
                value=record.value,
                source_topic=record.topic,
                default_kind=default_kind,
                partition=record.partition,
                offset=record.offset,
                reply_to=header(record.headers, REPLY_TO_HEADER),
                correlation_id=header(record.headers, CORRELATION_HEADER),
            )
            for chunk in chunks
            for record in chunk.records
        ]

    intake = Intake(app, (topics.prompts, topics.responses), max_queued=2 * batch.max_batch_size)
    app._llm_shield_intake = intake  # read by the fetch hook (divert_fetches)
    divert_fetches()

    async def batches_in_window(topic: str) -> AsyncIterator[list[Chunk]]:
        """Fixed window: a batch is cut when full or when the window closes."""
        clock = asyncio.get_running_loop().time
        while True:
            await intake.wait(topic)
            deadline = clock() + batch.window_seconds
            while intake.queued(topic) < batch.max_batch_size:
                remaining = deadline - clock()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(intake.next_arrival(topic), remaining)
            chunks = intake.take(topic, batch.max_batch_size)
            if chunks:
                yield chunks

    async def batches_adaptive(topic: str) -> AsyncIterator[list[Chunk]]:
        """Adaptive: the model is idle whenever this asks for a batch, so take what has arrived
        and go. While a batch is scanned the next one piles up, so batches grow with the load
        up to ``max_batch_size``; a lone event waits for nothing (the window is never exceeded).
        Chunks are not acked here; ``deliver`` acks them."""
        while True:
            await intake.wait(topic)
            chunks = intake.take(topic, batch.max_batch_size)
            if chunks:
                yield chunks

    batches = batches_adaptive if batch.adaptive else batches_in_window

    async def handle(topic: str, default_kind: str) -> None:
        loop = asyncio.get_running_loop()
        in_flight: asyncio.Future | None = None
        try:
            async with contextlib.aclosing(batches(topic)) as source:
                async for chunks in source:
                    pacer.saw_events()
                    records = to_records(chunks, default_kind)
                    started = time.perf_counter()
                    scanning = loop.run_in_executor(executor, scan, records)
                    try:
                        scanned = await asyncio.shield(scanning)
                    except asyncio.CancelledError:
                        # Stopping (SIGTERM, Ctrl-C, rebalance away): finish the batch in
                        # flight and deliver it, so a graceful stop leaves nothing to redo.
                        try:
                            scanned = await scanning
                        except BaseException:
                            intake.release(chunks)
                            raise
                        if in_flight is not None:
                            await in_flight
                        in_flight = None
                        await deliver(chunks, records, scanned)
                        raise
                    except BaseException:
                        intake.release(chunks)
                        raise
                    if on_batch is not None:
                        on_batch(len(records), time.perf_counter() - started)
                    # One batch is delivered while the next one is scanned; acks stay in order.
                    if in_flight is not None:
                        await in_flight
                    in_flight = asyncio.ensure_future(deliver(chunks, records, scanned))
        finally:
            if in_flight is not None:
                await in_flight

    # The agents subscribe the input topics (so faust assigns their partitions, with the
    # conversation table's beside them); their records come through the intake, not the stream.
    @app.agent(prompts, name="scan-prompts")
    async def scan_prompts(stream: faust.StreamT) -> None:
        await handle(topics.prompts, "prompt")

    @app.agent(responses, name="scan-responses")
    async def scan_responses(stream: faust.StreamT) -> None:
        await handle(topics.responses, "response")

    windows = pipeline.windows
    if windows is not None:
        worker_name = f"{socket.gethostname()}-{os.getpid()}"

        async def publish_windows(closed: Sequence[tuple[WindowKey, WindowCounts]]) -> None:
            if not closed:
                return
            if output_gate is not None:
                try:
                    await output_gate.wait()
                except DeliveryFailed:
                    return  # the broker lost its state: the events are read and counted again
            send = app.producer.send
            pending = [
                await send(
                    topics.stats,
                    key.tenant.encode(),
                    window_record(key, windows.window_seconds, counts, worker_name),
                    None,
                    None,
                    None,
                )
                for key, counts in closed
            ]
            await asyncio.gather(*pending)

        @app.timer(1.0, name="llm-shield-stats")
        async def _stats() -> None:
            await publish_windows(windows.closed())

        @app.on_before_shutdown.connect  # what was counted in the open windows is not lost
        async def _flush_stats(sender: Any, **kwargs: Any) -> None:
            try:
                await publish_windows(windows.flush())
            except Exception:  # noqa: BLE001 - a stop must not fail on the last stats
                log.warning("could not publish the last stats windows", exc_info=True)

    if pacer.enabled:

        @app.timer(min(1.0, kafka.active_after_seconds / 4), name="llm-shield-fetch-pacer")
        async def _pace() -> None:
            pacer.tick()

    app._llm_shield_pacer = pacer  # for tests and the worker's status line

    if on_ready is not None:
        ready_once = {"done": False}

        @app.on_rebalance_complete.connect
        async def _ready(sender: Any, **kwargs: Any) -> None:
            if not ready_once["done"]:
                ready_once["done"] = True
                result = on_ready()
                if asyncio.iscoroutine(result):
                    await result

    @app.on_before_shutdown.connect
    def _stop_executor(sender: Any, **kwargs: Any) -> None:
        executor.shutdown(wait=True)

    @app.on_before_shutdown.connect  # the consumer has stopped: flush the last replies
    async def _stop_replies(sender: Any, **kwargs: Any) -> None:
        await answer.close()
        await output_writer.close()

    return app
