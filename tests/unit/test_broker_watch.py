"""The broker watch: its rule for "this broker lost its state", the connection that tells it
the broker went, and the gate that holds outputs meanwhile (the integration test restarts a
real broker)."""

import asyncio

import pytest

from llm_shield.streams import kafka
from llm_shield.streams.config import load_settings
from llm_shield.streams.errors import BrokerUnreachable, DeliveryFailed
from llm_shield.streams.kafka import BrokerState, _reset_reason


def test_missing_topics_mean_a_reset() -> None:
    reason = _reset_reason(None, BrokerState(["t.verdicts"], {}))
    assert reason is not None and "t.verdicts" in reason


def test_committed_offsets_going_back_or_vanishing_mean_a_reset() -> None:
    before = BrokerState([], {("t.prompts", 0): 120, ("t.prompts", 1): 80})
    assert (
        _reset_reason(before, BrokerState([], {("t.prompts", 0): 121, ("t.prompts", 1): 80}))
        is None
    )
    assert _reset_reason(before, BrokerState([], {("t.prompts", 0): 3, ("t.prompts", 1): 80}))
    assert _reset_reason(before, BrokerState([], {}))  # a new broker has no offsets for the group


def test_first_look_and_a_group_without_commits_say_nothing() -> None:
    assert _reset_reason(None, BrokerState([], {("t.prompts", 0): 5})) is None
    assert _reset_reason(BrokerState([], {}), BrokerState([], {("t.prompts", 0): 0})) is None


# -- the output gate and the connection that tells the watch the broker went --------------------


async def _blocked(gate: kafka.OutputGate) -> bool:
    waiter = asyncio.ensure_future(gate.wait())
    await asyncio.sleep(0.05)
    blocked = not waiter.done()
    waiter.cancel()
    return blocked


def test_the_gate_holds_releases_and_fails_for_good() -> None:
    async def run() -> None:
        gate = kafka.OutputGate()
        assert not await _blocked(gate)
        gate.hold()
        waiter = asyncio.ensure_future(gate.wait())
        await asyncio.sleep(0.05)
        assert not waiter.done()
        gate.release()
        await asyncio.wait_for(waiter, 1)
        gate.hold()
        waiting = asyncio.ensure_future(gate.wait())
        await asyncio.sleep(0.05)
        gate.fail(DeliveryFailed("the broker lost its state"))
        with pytest.raises(DeliveryFailed):
            await asyncio.wait_for(waiting, 1)
        gate.release()  # a failed gate stays failed
        with pytest.raises(DeliveryFailed):
            await gate.wait()
        assert not gate.is_open

    asyncio.run(run())


class _Listener:
    """A TCP server standing in for the broker's port: it can drop its connections."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> int:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)

        self.server = await asyncio.start_server(accept, "127.0.0.1", port)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        self.writers.clear()
        await self.server.wait_closed()


def _settings(port: int):
    return load_settings(None, {"broker": f"127.0.0.1:{port}"}, environ={})


def test_the_sentinel_says_when_the_connection_drops_and_when_it_is_back() -> None:
    async def run() -> None:
        listener = _Listener()
        port = await listener.start()
        sentinel = kafka.BrokerSentinel(_settings(port))
        try:
            assert await sentinel.wait(0.2) is False  # first connection: nothing to suspect
            assert await sentinel.wait(0.2) is False  # held, nothing happened
            await listener.stop()
            assert await sentinel.wait(5) is True  # closed: at once, not after 5 s
            assert await sentinel.wait(0.2) is True  # cannot connect
            await listener.start(port)
            assert await sentinel.wait(0.2) is True  # open again: maybe another broker
            assert await sentinel.wait(0.2) is False
        finally:
            sentinel.close()
            await listener.stop()

    asyncio.run(run())


def test_a_sentinel_that_cannot_connect_while_the_broker_answers_is_given_up() -> None:
    async def run() -> None:
        listener = _Listener()
        port = await listener.start()
        await listener.stop()  # nothing listens there: every connection fails
        sentinel = kafka.BrokerSentinel(_settings(port))
        for _ in range(kafka.SENTINEL_GIVE_UP_AFTER):
            assert await sentinel.wait(0.1) is True
        sentinel.answered()
        assert not sentinel.usable
        assert await sentinel.wait(0.05) is False  # the watch's interval alone from now on

    asyncio.run(run())


def test_the_watch_holds_outputs_from_the_drop_until_it_knows_the_broker(monkeypatch) -> None:
    """The broker goes (the connection closes), comes back empty: outputs are held from the
    drop on, the worker is told of the reset, and only then do the held outputs fail."""

    async def run() -> None:
        listener = _Listener()
        port = await listener.start()
        settings = _settings(port)
        broker = {"answer": BrokerState([], {("t.prompts", 0): 5})}

        async def broker_state(settings, timeout_seconds):
            answer = broker["answer"]
            if isinstance(answer, BaseException):
                raise answer
            return answer

        recreated = []

        async def ensure_topics(settings, timeout_seconds=None):
            recreated.append(True)
            return []

        monkeypatch.setattr(kafka, "broker_state", broker_state)
        monkeypatch.setattr(kafka, "ensure_topics", ensure_topics)
        gate = kafka.OutputGate()
        resets: list[tuple[str, bool]] = []
        watch = asyncio.ensure_future(
            kafka.watch_broker(settings, lambda why: resets.append((why, gate.is_open)), 30.0, gate)
        )

        async def until(condition, what: str) -> None:
            for _ in range(200):  # the watch's interval is 30 s: only the connection wakes it
                if condition():
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"not {what} within 10 s")

        try:
            await asyncio.sleep(0.2)
            assert not await _blocked(gate)
            broker["answer"] = BrokerUnreachable("down")
            await listener.stop()  # the broker goes
            await until(lambda: not gate.is_open, "held")
            assert await _blocked(gate)
            broker["answer"] = BrokerState([], {("t.prompts", 0): 5})
            await listener.start(port)  # back, the same broker: outputs go on
            await until(lambda: gate.is_open, "released")
            assert not await _blocked(gate)
            broker["answer"] = BrokerUnreachable("down")
            await listener.stop()
            await until(lambda: not gate.is_open, "held again")
            broker["answer"] = BrokerState(["t.verdicts"], {})
            await listener.start(port)  # back, and empty
            await until(lambda: resets, "told of the reset")
            assert "t.verdicts" in resets[0][0]
            assert resets[0][1] is False  # still held when the worker was told
            assert recreated
            with pytest.raises(DeliveryFailed, match="lost its state"):
                await asyncio.wait_for(gate.wait(), 1)
        finally:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
            await listener.stop()

    asyncio.run(run())
