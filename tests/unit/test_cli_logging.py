"""The CLI's log lines: aiokafka's and asyncio's reports of a connection the CLI already
reported in one line are dropped, and nothing else is."""

from __future__ import annotations

import logging

from llm_shield.ops.cli.common import _drop_connect_noise


def record(name: str, message: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, exc_info)


def test_a_dropped_connections_unread_future_is_not_reported() -> None:
    reset = ConnectionResetError(104, "Connection reset by peer")
    assert not _drop_connect_noise(record("asyncio", "Future exception was never retrieved", reset))
    assert not _drop_connect_noise(record("aiokafka", "Unable connect to node with id 1"))


def test_other_errors_are_still_reported() -> None:
    failed = ValueError("a bug")
    assert _drop_connect_noise(record("asyncio", "Future exception was never retrieved", failed))
    assert _drop_connect_noise(record("asyncio", "Task exception was never retrieved", None))
    assert _drop_connect_noise(record("aiokafka", "Unexpected exception in AIOKafkaConnection"))
