"""The Faust app: the five SPEC topics and one batching agent per input topic.

The agents only move bytes: take a batch within the window, hand it to the pipeline in a worker
thread (so the consumer keeps heart-beating), publish what comes back, and ack each input only after
its outputs were acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust

from llm_shield.streams.config import Settings
from llm_shield.streams.events import DeadLetter, RawRecord
from llm_shield.streams.pipeline import Outcome, Pipeline
from llm_shield.streams.security import faust_credentials

log = logging.getLogger(__name__)

OutcomeSink = Callable[[Sequence[Outcome]], None]


def set_fetch_max_wait(milliseconds: int) -> None:
    """Make faust's worker consumer use our fetch wait instead of its hard-coded 1,500 ms.

    faust-streaming has no setting for it; we wrap the one method that builds the aiokafka
    consumer (once per process) and set the value aiokafka reads when the consumer starts.
    """
    from faust.transport.drivers import aiokafka as faust_aiokafka

    thread = faust_aiokafka.AIOKafkaConsumerThread
    original = getattr(thread, "_llm_shield_original_create", None)
    if original is None:
        original = thread._create_worker_consumer
        thread._llm_shield_original_create = original  # type: ignore[attr-defined]

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = milliseconds
        return consumer

    thread._create_worker_consumer = create  # type: ignore[method-assign]


def faust_broker_urls(broker: str) -> list[str]:
    return [f"kafka://{part.strip()}" for part in broker.split(",") if part.strip()]


def create_app(
    settings: Settings,
    pipeline: Pipeline,
    *,
    on_outcomes: OutcomeSink | None = None,
    on_ready: Callable[[], Any] | None = None,
    on_batch: Callable[[int, float], None] | None = None,
) -> faust.App:
    """Build the worker app; nothing connects until a ``faust.Worker`` starts it."""
    set_fetch_max_wait(settings.kafka.fetch_max_wait_ms)
    app = faust.App(
        settings.group_id,
        broker=faust_broker_urls(settings.broker),
        broker_client_id=settings.kafka.client_id,
        broker_credentials=faust_credentials(settings),
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
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

    async def publish(outcomes: Sequence[Outcome]) -> None:
        """Hand every output to the producer, then wait for all the broker's acks.

        The transport producer is used directly: faust's ``Topic.send`` wraps each record in
        futures and callbacks we do not need (they cost more per verdict than building it).
        """
        send = app.producer.send
        pending = []
        for outcome in outcomes:
            if isinstance(outcome, DeadLetter):
                pending.append(
                    await send(topics.deadletter, None, outcome.to_json(), None, None, None)
                )
                continue
            body = outcome.to_json()
            key = outcome.id.encode()
            pending.append(await send(topics.verdicts, key, body, None, None, None))
            if outcome.is_alert:
                pending.append(await send(topics.alerts, key, body, None, None, None))
        await asyncio.gather(*pending)

    async def deliver(stream: faust.StreamT, events: list, outcomes: Sequence[Outcome]) -> None:
        """Publish a batch's outputs, then ack its inputs: an offset is only committable once
        every verdict of its batch is acknowledged by the broker."""
        await publish(outcomes)
        for event in events:
            await stream.ack(event)
        if on_outcomes is not None:
            on_outcomes(outcomes)

    def to_records(events: Sequence[Any], default_kind: str) -> list[RawRecord]:
        return [
            RawRecord(
                value=event.message.value,
                source_topic=event.message.topic,
                default_kind=default_kind,
                partition=event.message.partition,
                offset=event.message.offset,
            )
            for event in events
        ]

    async def batches_in_window(stream: faust.StreamT) -> AsyncIterator[list[Any]]:
        """Fixed window: a batch is cut when full or when the window closes (faust's take)."""
        async for events in stream.noack_take(batch.max_batch_size, within=batch.window_seconds):
            yield list(events)

    async def batches_adaptive(stream: faust.StreamT) -> AsyncIterator[list[Any]]:
        """Adaptive: the model is idle whenever this asks for a batch, so take what has arrived
        and go. While a batch is scanned the next one piles up, so batches grow with the load
        up to ``max_batch_size``; a lone event waits for nothing (the window is never exceeded).

        A feeder task moves events from the stream into a bounded queue (two batches: when it is
        full, faust stops fetching). Events are not acked here; ``deliver`` acks them.
        """
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=2 * batch.max_batch_size)
        manual = stream.noack()
        clock = asyncio.get_running_loop().time

        async def feed() -> None:
            async for event in manual.events():
                await queue.put(event)

        feeder = asyncio.ensure_future(feed())
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, feeder}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    feeder.result()  # the stream ended or failed: raise it here
                    return
                events = [getter.result()]
                deadline = clock() + batch.window_seconds
                while len(events) < batch.max_batch_size and clock() < deadline:
                    if queue.empty():
                        # Let the feeder hand over what the consumer already fetched; stop
                        # as soon as nothing more is in memory.
                        await asyncio.sleep(0)
                        if queue.empty():
                            break
                    events.append(queue.get_nowait())
                yield events
        finally:
            feeder.cancel()

    batches = batches_adaptive if batch.adaptive else batches_in_window

    async def handle(stream: faust.StreamT, default_kind: str) -> None:
        loop = asyncio.get_running_loop()
        in_flight: asyncio.Future | None = None
        try:
            async with contextlib.aclosing(batches(stream)) as source:
                async for events in source:
                    records = to_records(events, default_kind)
                    started = time.perf_counter()
                    scanning = loop.run_in_executor(executor, pipeline.process, records)
                    try:
                        outcomes = await asyncio.shield(scanning)
                    except asyncio.CancelledError:
                        # Stopping (SIGTERM, Ctrl-C, rebalance away): finish the batch in
                        # flight and deliver it, so a graceful stop leaves nothing to redo.
                        outcomes = await scanning
                        if in_flight is not None:
                            await in_flight
                        in_flight = None
                        await deliver(stream, events, outcomes)
                        raise
                    if on_batch is not None:
                        on_batch(len(records), time.perf_counter() - started)
                    # One batch is delivered while the next one is scanned; acks stay in order.
                    if in_flight is not None:
                        await in_flight
                    in_flight = asyncio.ensure_future(deliver(stream, events, outcomes))
        finally:
            if in_flight is not None:
                await in_flight

    @app.agent(prompts, name="scan-prompts")
    async def scan_prompts(stream: faust.StreamT) -> None:
        await handle(stream, "prompt")

    @app.agent(responses, name="scan-responses")
    async def scan_responses(stream: faust.StreamT) -> None:
        await handle(stream, "response")

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

    return app
