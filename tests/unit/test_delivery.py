"""A batch's outputs are sent again when the broker refuses some, and a batch the broker keeps
refusing raises instead of being acked (so it is never committed)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import UnknownError

from llm_shield.streams.app import Output, send_with_retries
from llm_shield.streams.errors import DeliveryFailed


def _outputs(n: int) -> list[Output]:
    return [(False, "verdicts", f"k{i}".encode(), b"{}", None) for i in range(n)]


class FlakyBroker:
    """Refuses the listed keys for the first ``refusals`` times each is sent."""

    def __init__(self, refuse: set[bytes], refusals: int, raise_on_send: bool = False) -> None:
        self.refuse = refuse
        self.refusals = refusals
        self.raise_on_send = raise_on_send
        self.sent: list[bytes] = []
        self.seen: dict[bytes, int] = {}

    async def send_one(self, output: Output) -> asyncio.Future:
        key = output[2]
        assert key is not None
        self.sent.append(key)
        self.seen[key] = self.seen.get(key, 0) + 1
        future = asyncio.get_running_loop().create_future()
        if key in self.refuse and self.seen[key] <= self.refusals:
            if self.raise_on_send:
                raise UnknownError()
            future.set_exception(UnknownError())
        else:
            future.set_result(None)
        return future

    async def send_many(self, outputs: list[Output]) -> list[tuple[asyncio.Future, list[Output]]]:
        """One request per output."""
        groups = []
        for output in outputs:
            try:
                future = await self.send_one(output)
            except UnknownError as exc:
                future = asyncio.get_running_loop().create_future()
                future.set_exception(exc)
            groups.append((future, [output]))
        return groups


class BatchingBroker(FlakyBroker):
    """Sends the outputs in requests of ``size``; a request holding a refused key is refused
    whole (as a record batch is)."""

    def __init__(self, refuse: set[bytes], refusals: int, size: int) -> None:
        super().__init__(refuse, refusals)
        self.size = size

    async def send_many(self, outputs: list[Output]) -> list[tuple[asyncio.Future, list[Output]]]:
        groups = []
        for start in range(0, len(outputs), self.size):
            carried = outputs[start : start + self.size]
            futures = [await self.send_one(output) for output in carried]
            future = asyncio.get_running_loop().create_future()
            failed = [f.exception() for f in futures if f.exception() is not None]
            if failed:
                future.set_exception(failed[0])
            else:
                future.set_result(None)
            groups.append((future, carried))
        return groups


def test_refused_outputs_are_sent_again_and_only_they() -> None:
    broker = FlakyBroker({b"k1", b"k3"}, refusals=2)
    asyncio.run(send_with_retries(_outputs(5), broker.send_many, backoff_seconds=0.001))
    assert broker.seen == {b"k0": 1, b"k1": 3, b"k2": 1, b"k3": 3, b"k4": 1}


def test_a_send_that_raises_counts_as_refused() -> None:
    broker = FlakyBroker({b"k0"}, refusals=1, raise_on_send=True)
    asyncio.run(send_with_retries(_outputs(2), broker.send_many, backoff_seconds=0.001))
    assert broker.seen == {b"k0": 2, b"k1": 1}


def test_a_batch_refused_every_time_raises_delivery_failed() -> None:
    broker = FlakyBroker({b"k2"}, refusals=100)
    with pytest.raises(DeliveryFailed, match="refused 1 of 3 outputs of a batch 4 times"):
        asyncio.run(send_with_retries(_outputs(3), broker.send_many, backoff_seconds=0.001))
    assert broker.seen[b"k2"] == 4
    assert broker.seen[b"k0"] == 1


def test_a_refused_request_is_sent_again_whole_and_the_others_are_not() -> None:
    broker = BatchingBroker({b"k4"}, refusals=1, size=3)
    asyncio.run(send_with_retries(_outputs(7), broker.send_many, backoff_seconds=0.001))
    # k3, k4, k5 travelled together: all three again; the other requests once
    assert broker.seen == {b"k0": 1, b"k1": 1, b"k2": 1, b"k3": 2, b"k4": 2, b"k5": 2, b"k6": 1}
