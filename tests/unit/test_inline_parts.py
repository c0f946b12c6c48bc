"""The worker-side parts of inline checks that need no broker: which reply topics are ever
written, the fetch pacer's switching, and the client's made-up verdicts on timeout."""

import time

from llm_shield.streams.app import FetchPacer
from llm_shield.streams.client import reply_topic_name
from llm_shield.streams.events import RawRecord
from llm_shield.streams.kafka import reply_topic_created
from llm_shield.streams.replies import ReplyRouter, header


def record(reply_to: str | None) -> RawRecord:
    return RawRecord(value=b"{}", source_topic="p", reply_to=reply_to)


def test_only_topics_under_the_prefix_are_reply_targets() -> None:
    refused: list[str] = []
    router = ReplyRouter("llm-shield.replies.", refused.append)
    assert router.topic_for(record(None)) is None
    assert router.topic_for(record("llm-shield.replies.123-abc")) == "llm-shield.replies.123-abc"
    for bad in (
        "llm-shield.verdicts",
        "llm-shield.replies.",  # the bare prefix names no client
        "llm-shield.repliesX",
        "llm-shield.replies.a/b",
        "llm-shield.replies." + "x" * 300,
        "other.llm-shield.replies.1",
    ):
        assert router.topic_for(record(bad)) is None, bad
    assert router.refused == 6 and len(refused) == 6


def test_header_reads_both_shapes_faust_hands_over() -> None:
    assert header([("a", b"1"), ("llm-shield-reply-to", b"t")], "llm-shield-reply-to") == "t"
    assert header({"llm-shield-reply-to": b"t"}, "llm-shield-reply-to") == "t"
    assert header(None, "x") is None and header([("x", None)], "x") is None


class FakeFetcher:
    _fetch_max_wait_ms = 0


class FakeConsumer:
    def __init__(self) -> None:
        self._fetch_max_wait_ms = 0
        self._fetcher = FakeFetcher()


def test_fetch_pacer_is_short_while_events_come_and_long_when_idle() -> None:
    pacer = FetchPacer(idle_ms=100, active_ms=5, active_after_seconds=0.05)
    consumer = FakeConsumer()
    pacer.adopt(consumer)
    assert consumer._fetch_max_wait_ms == 100  # idle at start
    pacer.saw_events()
    assert consumer._fetch_max_wait_ms == 5 and consumer._fetcher._fetch_max_wait_ms == 5
    pacer.tick()
    assert pacer.active  # not idle long enough yet
    time.sleep(0.08)
    pacer.tick()
    assert not pacer.active
    assert consumer._fetch_max_wait_ms == 100 and consumer._fetcher._fetch_max_wait_ms == 100


def test_fetch_pacer_off_when_both_waits_are_equal() -> None:
    pacer = FetchPacer(idle_ms=100, active_ms=100, active_after_seconds=1)
    consumer = FakeConsumer()
    pacer.adopt(consumer)
    pacer.saw_events()
    assert not pacer.enabled and not pacer.active and consumer._fetch_max_wait_ms == 100


def test_reply_topic_names_carry_their_creation_time() -> None:
    name = reply_topic_name("llm-shield.replies.", "1700000000-abcdef")
    assert reply_topic_created(name, "llm-shield.replies.") == 1700000000.0
    assert reply_topic_created("llm-shield.replies.odd", "llm-shield.replies.") is None
