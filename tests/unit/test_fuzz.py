"""Property tests: the decoder and the heuristic scanners take anything without raising.

The worker's contract is that bad input becomes a dead letter, never an exception; hypothesis
generates the inputs nobody would think of writing by hand.
"""

from __future__ import annotations

import json

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_shield.streams.events import REASONS, DeadLetter, Event, RawRecord, decode_record
from llm_shield.streams.heuristics import (
    HeuristicPromptInjection,
    HeuristicSentiment,
    HeuristicToxicity,
)
from llm_shield.streams.privacy import redact

SCANNERS = (HeuristicPromptInjection(), HeuristicToxicity(), HeuristicSentiment())
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=30,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "text": json_values,
        "kind": st.sampled_from(["prompt", "response", "other"]) | json_values,
        "prompt": json_values,
        "created_at": st.text(max_size=40) | json_values,
        "metadata": json_values,
        "tenant": json_values,
    },
)


def _check(outcome: Event | DeadLetter) -> None:
    if isinstance(outcome, DeadLetter):
        assert outcome.reason in REASONS
        orjson.dumps(outcome.to_dict())  # every dead letter can be published
        assert outcome.raw is None or len(outcome.raw.encode()) <= 4096
    else:
        assert isinstance(outcome.id, str) and outcome.id.strip()
        assert isinstance(outcome.text, str)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_decoder_takes_any_bytes(value: bytes) -> None:
    _check(decode_record(RawRecord(value=value), max_event_bytes=1024, redact=True))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_like)
def test_decoder_takes_any_event_shaped_json(data: dict) -> None:
    value = json.dumps(data).encode()  # stdlib: big ints and lone surrogates go through
    _check(decode_record(RawRecord(value=value), max_event_bytes=1 << 16, redact=True))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=600))
def test_heuristics_and_redaction_take_any_text(text: str) -> None:
    for scanner in SCANNERS:
        (result,) = scanner.scan_batch([text])
        assert 0.0 <= result.score <= 1.0 and 0.0 <= result.risk <= 1.0
    assert isinstance(redact(text), str)


def test_deep_nesting_is_a_dead_letter_not_a_crash() -> None:
    for depth in (40, 300, 100_000):
        value = (
            b'{"id": "d", "text": "x", "metadata": '
            + b'{"a": ' * depth
            + b"1"
            + b"}" * depth
            + b"}"
        )
        outcome = decode_record(RawRecord(value=value), max_event_bytes=1 << 20)
        assert isinstance(outcome, DeadLetter) and outcome.reason in ("invalid_value", "bad_json")
