"""The worker's side of inline checks: which reply topic a verdict may go to, and sending it.

A client names its reply topic in a record header. Two things must never happen because of that
header: the worker writing into a topic that is not a reply topic (the verdicts, another
application's data), and the worker creating topics. Kafka brokers with topic auto-creation (the
default, and Tansu) create a topic when a client asks for its metadata, and an aiokafka producer
asks again for every topic it ever sent to whenever it refreshes; a reply producer that tracked
reply topics would bring back every topic a closed client had just deleted. So replies go through
a producer of their own that tracks no topic (its metadata refreshes list all topics and create
none), and a reply to a topic the broker does not list is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from aiokafka.errors import KafkaError

from llm_shield.registry.errors import ShieldError
from llm_shield.streams.config import Settings
from llm_shield.streams.events import RawRecord
from llm_shield.streams.kafka import LazyProducer

log = logging.getLogger(__name__)

_TOPIC_CHARS = re.compile(r"[A-Za-z0-9._-]{1,200}")


def header(headers: Any, name: str) -> str | None:
    """One header's value as text, whichever shape faust hands the headers in."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, dict) else headers
    for key, value in items:
        if key == name and value is not None:
            return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    return None


class ReplyRouter:
    """Which reply topic, if any, a record's verdict also goes to.

    Only topics under the reply prefix are ever written: any other reply-to header is ignored,
    counted and logged once per topic name, so a header can never make the worker write into an
    arbitrary topic.
    """

    def __init__(self, prefix: str, on_refused: Callable[[str], None] | None = None) -> None:
        self.prefix = prefix
        self.on_refused = on_refused
        self.refused = 0
        self._logged: set[str] = set()

    def topic_for(self, record: RawRecord) -> str | None:
        topic = record.reply_to
        if topic is None:
            return None
        name = topic[len(self.prefix) :]
        if topic.startswith(self.prefix) and name and _TOPIC_CHARS.fullmatch(name):
            return topic
        self.refused += 1
        if self.on_refused is not None:
            self.on_refused(topic)
        if topic not in self._logged and len(self._logged) < 1000:
            self._logged.add(topic)
            log.warning(
                "ignoring reply-to %r: replies go only to topics named %s<client>",
                topic[:200],
                self.prefix,
            )
        return None


class ReplySender:
    """Sends replies without ever holding the verdict path back or creating a topic.

    ``send`` returns at once; the reply goes out on a task of its own. A reply whose topic the
    broker does not list (its client closed or crashed) is dropped and counted as ``gone``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sent = 0
        self.gone = 0
        self.failures = 0
        self._producer = LazyProducer(
            settings,
            "replies",
            linger_ms=0,
            request_timeout_ms=10_000,
            max_request_size=max(settings.input.max_event_bytes * 2, 1 << 20),
        )
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        task = asyncio.ensure_future(self._send(topic, key, value))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, topic: str, key: bytes, value: bytes) -> None:
        try:
            producer = await self._producer.get()
            cluster = producer.client.cluster
            if cluster.partitions_for_topic(topic) is None:
                # The producer tracks no topic, so this lists all topics and creates none.
                await producer.client.force_metadata_update()
                if cluster.partitions_for_topic(topic) is None:
                    self.gone += 1
                    if self.gone in (1, 10, 100) or self.gone % 1000 == 0:
                        log.info(
                            "dropped a reply to %s: the topic is gone (%d so far)", topic, self.gone
                        )
                    return
            delivered = await producer.send(topic, value, key=key)
            await delivered
            self.sent += 1
        except (KafkaError, OSError, ShieldError) as exc:
            self.failures += 1
            if self.failures in (1, 10, 100) or self.failures % 1000 == 0:
                log.warning("a reply could not be delivered (%d so far): %s", self.failures, exc)

    async def close(self, timeout_seconds: float = 5.0) -> None:
        """Let the replies in flight go out (bounded), then stop the producer."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_seconds)
        await self._producer.close()
