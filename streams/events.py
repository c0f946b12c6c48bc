"""Input events: decoding and validating raw Kafka values, and the dead-letter records for bad ones.

The decoder is the only place that trusts nothing: every failure becomes a ``DeadLetter`` with a
machine-readable ``reason`` (one of ``REASONS``) instead of an exception, so bad input never stops
the worker.
"""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from typing import Any

import orjson

from llm_shield.streams import privacy
from llm_shield.streams.frozen import record

DEADLETTER_SCHEMA = "llm-shield.deadletter/v1"
# orjson serialises at most 254 levels; metadata is copied into the verdict, so cap it well below.
MAX_METADATA_DEPTH = 32
KINDS = ("prompt", "response")
# Record headers of an inline check: the client's reply topic and the event id to answer.
REPLY_TO_HEADER = "llm-shield-reply-to"
CORRELATION_HEADER = "llm-shield-correlation-id"

# Machine-readable dead-letter reasons; consumers may switch on these.
REASONS = (
    "empty",  # null or zero-length value
    "too_large",  # over input.max_event_bytes
    "invalid_utf8",  # bytes are not UTF-8
    "bad_json",  # not parseable as JSON (includes nesting too deep, NaN, lone surrogates)
    "not_object",  # valid JSON, but not an object
    "missing_id",  # no `id`, or an empty one
    "missing_text",  # no `text`
    "wrong_type",  # a known field has the wrong JSON type
    "invalid_value",  # a known field has the right type but a value outside the contract
)


@record
class RawRecord:
    """One value as it arrived, with where it came from (needed for a useful dead letter)."""

    value: bytes | None
    source_topic: str = ""
    default_kind: str = "prompt"
    partition: int | None = None
    offset: int | None = None
    # The reply topic an inline client named in the record's headers (checked by the worker), and
    # the event id it waits for (what a dead letter is answered by when the id was not parsed).
    reply_to: str | None = None
    correlation_id: str | None = None


@record
class Event:
    id: str
    text: str
    kind: str = "prompt"
    prompt: str | None = None
    conversation_id: str | None = None
    tenant: str | None = None
    created_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@record
class DeadLetter:
    reason: str
    detail: str
    source_topic: str
    partition: int | None
    offset: int | None
    raw: str | None
    id: str | None = None  # the event id, when the input got far enough to have one

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "schema": DEADLETTER_SCHEMA,
            "reason": self.reason,
            "detail": self.detail,
            "source_topic": self.source_topic,
            "partition": self.partition,
            "offset": self.offset,
            "raw": self.raw,
        }
        if self.id is not None:
            record["id"] = self.id
        return record

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


class _Invalid(Exception):
    def __init__(self, reason: str, detail: str, event_id: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.event_id = event_id


def _raw_excerpt(value: bytes | None, limit: int) -> str | None:
    """At most ``limit`` bytes of UTF-8 (bytes that are not UTF-8 show as ``\\xNN``)."""
    if value is None or limit <= 0:
        return None
    text = value[:limit].decode("utf-8", errors="backslashreplace")
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def _optional_str(data: dict[str, Any], name: str, event_id: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid("wrong_type", f"{name} must be a string, got {_json_type(value)}", event_id)
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Iterative depth check (no recursion on hostile input)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False


def _parse(record: RawRecord, max_event_bytes: int) -> Event:
    value = record.value
    if not value:
        raise _Invalid("empty", "the value is empty")
    if len(value) > max_event_bytes:
        raise _Invalid("too_large", f"{len(value)} bytes, the limit is {max_event_bytes}")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid("invalid_utf8", f"byte {exc.start} is not valid UTF-8") from None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise _Invalid("bad_json", str(exc)) from None
    if not isinstance(data, dict):
        raise _Invalid("not_object", f"expected a JSON object, got {_json_type(data)}")

    event_id = data.get("id")
    if event_id is None:
        raise _Invalid("missing_id", "the field id is required")
    if not isinstance(event_id, str):
        raise _Invalid("wrong_type", f"id must be a string, got {_json_type(event_id)}")
    if not event_id.strip():
        raise _Invalid("missing_id", "id is empty")
    if "text" not in data or data["text"] is None:
        raise _Invalid("missing_text", "the field text is required", event_id)
    if not isinstance(data["text"], str):
        raise _Invalid(
            "wrong_type", f"text must be a string, got {_json_type(data['text'])}", event_id
        )

    kind = _optional_str(data, "kind", event_id)
    kind = record.default_kind if kind is None else kind
    if kind not in KINDS:
        raise _Invalid("invalid_value", f"kind must be prompt or response, got {kind!r}", event_id)
    created_at = _optional_str(data, "created_at", event_id)
    if created_at is not None:
        try:
            datetime.fromisoformat(created_at)
        except ValueError:
            raise _Invalid(
                "invalid_value",
                f"created_at is not an RFC 3339 time: {created_at[:64]!r}",
                event_id,
            ) from None
    metadata = data.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise _Invalid(
            "wrong_type", f"metadata must be an object, got {_json_type(metadata)}", event_id
        )
    elif _depth_exceeds(metadata, MAX_METADATA_DEPTH):
        raise _Invalid(
            "invalid_value", f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels", event_id
        )
    return Event(
        id=event_id,
        text=data["text"],
        kind=kind,
        prompt=_optional_str(data, "prompt", event_id),
        conversation_id=_optional_str(data, "conversation_id", event_id),
        tenant=_optional_str(data, "tenant", event_id),
        created_at=created_at,
        metadata=metadata,
    )


def decode_record(
    record: RawRecord,
    *,
    max_event_bytes: int,
    deadletter_raw_bytes: int = 4096,
    redact: bool = False,
) -> Event | DeadLetter:
    """Turn one raw value into an ``Event``, or a ``DeadLetter`` saying why it cannot be one.

    With ``redact`` the dead letter's raw excerpt and detail have personal data masked.
    """
    try:
        return _parse(record, max_event_bytes)
    except _Invalid as invalid:
        raw = _raw_excerpt(record.value, deadletter_raw_bytes)
        detail = invalid.detail
        if redact:
            raw = privacy.redact(raw) if raw else raw
            detail = privacy.redact(detail)
        return DeadLetter(
            reason=invalid.reason,
            detail=detail,
            source_topic=record.source_topic,
            partition=record.partition,
            offset=record.offset,
            raw=raw,
            id=invalid.event_id,
        )
