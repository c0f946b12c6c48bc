"""Decoding: every input becomes an event or a dead letter with a machine-readable reason."""

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_shield.streams.events import REASONS, DeadLetter, Event, RawRecord, decode_record


def decode(value: bytes | None, **kwargs) -> Event | DeadLetter:
    record = RawRecord(value=value, source_topic="in", partition=2, offset=41, **kwargs)
    return decode_record(record, max_event_bytes=1024, deadletter_raw_bytes=64)


def test_valid_event_keeps_every_contract_field() -> None:
    event = decode(
        orjson.dumps(
            {
                "id": "e1",
                "text": "hello",
                "kind": "response",
                "prompt": "hi?",
                "conversation_id": "c",
                "tenant": "t",
                "created_at": "2026-11-22T10:00:00Z",
                "metadata": {"a": [1, 2]},
                "unknown_field": "ignored",
            }
        )
    )
    assert isinstance(event, Event)
    assert (event.id, event.text, event.kind, event.prompt) == ("e1", "hello", "response", "hi?")
    assert (event.conversation_id, event.tenant) == ("c", "t")
    assert event.metadata == {"a": [1, 2]}


def test_kind_defaults_from_the_topic() -> None:
    event = decode(b'{"id": "e", "text": "x"}', default_kind="response")
    assert isinstance(event, Event) and event.kind == "response"


def test_empty_text_is_a_valid_event() -> None:
    assert isinstance(decode(b'{"id": "e", "text": ""}'), Event)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"x" * 2000, "too_large"),
        (b'{"id": "e", "text": "\xff\xfe"}', "invalid_utf8"),
        (b"{not json", "bad_json"),
        (b'{"id": "e", "text": "x"', "bad_json"),
        (b"[" * 5000 + b"]" * 5000, "too_large"),
        (b'"just a string"', "not_object"),
        (b"[1, 2]", "not_object"),
        (b'{"text": "x"}', "missing_id"),
        (b'{"id": "  ", "text": "x"}', "missing_id"),
        (b'{"id": 7, "text": "x"}', "wrong_type"),
        (b'{"id": "e"}', "missing_text"),
        (b'{"id": "e", "text": null}', "missing_text"),
        (b'{"id": "e", "text": 12}', "wrong_type"),
        (b'{"id": "e", "text": "x", "metadata": [1]}', "wrong_type"),
        (b'{"id": "e", "text": "x", "tenant": 5}', "wrong_type"),
        (b'{"id": "e", "text": "x", "kind": "tweet"}', "invalid_value"),
        (b'{"id": "e", "text": "x", "created_at": "yesterday"}', "invalid_value"),
        (b'{"id": "e", "text": NaN}', "bad_json"),
    ],
)
def test_bad_input_is_dead_lettered_with_a_reason(value: bytes | None, reason: str) -> None:
    dead = decode(value)
    assert isinstance(dead, DeadLetter)
    assert dead.reason == reason
    record = orjson.loads(dead.to_json())
    assert record["schema"] == "llm-shield.deadletter/v1"
    assert (record["source_topic"], record["partition"], record["offset"]) == ("in", 2, 41)
    assert record["detail"]


@pytest.mark.parametrize(("depth", "reason"), [(600, "invalid_value"), (5000, "bad_json")])
def test_deeply_nested_json_is_dead_lettered_not_a_crash(depth: int, reason: str) -> None:
    value = b'{"id": "e", "text": "x", "metadata": ' + b'{"a": ' * depth + b"1" + b"}" * (depth + 1)
    dead = decode_record(RawRecord(value=value), max_event_bytes=1 << 20)
    assert isinstance(dead, DeadLetter) and dead.reason == reason


def test_metadata_at_the_depth_limit_still_makes_a_verdict() -> None:
    from llm_shield.streams.config import load_settings
    from llm_shield.streams.pipeline import Pipeline

    value = b'{"id": "e", "text": "x", "metadata": ' + b'{"a": ' * 31 + b"1" + b"}" * 32
    heuristic = {f"scanners.{n}.mode": "heuristic" for n in ("prompt_injection", "toxicity")}
    settings = load_settings(None, {**heuristic, "scanners.sentiment.enabled": "0"}, environ={})
    verdict = Pipeline(settings).process([RawRecord(value=value)])[0]
    assert orjson.loads(verdict.to_json())["id"] == "e"


def test_dead_letter_raw_is_capped_and_can_be_turned_off() -> None:
    value = b'{"id": 1, "text": "' + b"a" * 500 + b'"}'
    capped = decode_record(RawRecord(value=value), max_event_bytes=4096, deadletter_raw_bytes=64)
    assert isinstance(capped, DeadLetter) and len(capped.raw) == 64
    off = decode_record(RawRecord(value=value), max_event_bytes=4096, deadletter_raw_bytes=0)
    assert isinstance(off, DeadLetter) and off.raw is None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(value: bytes) -> None:
    result = decode(value)
    assert isinstance(result, Event | DeadLetter)
    if isinstance(result, DeadLetter):
        assert result.reason in REASONS
        orjson.loads(result.to_json())  # always serialisable


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["id", "text", "kind", "metadata", "tenant", "x"]), json_values)
)
def test_arbitrary_objects_are_accepted_only_when_valid(data: dict) -> None:
    result = decode(orjson.dumps(data))
    valid = (
        isinstance(data.get("id"), str)
        and data["id"].strip() != ""
        and isinstance(data.get("text"), str)
        and data.get("kind") in (None, "prompt", "response")
        and (data.get("metadata") is None or isinstance(data.get("metadata"), dict))
        and (data.get("tenant") is None or isinstance(data.get("tenant"), str))
    )
    assert isinstance(result, Event) == valid, result
