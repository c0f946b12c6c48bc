"""The verdict: the one record the worker publishes per valid input event (SPEC: verdict/v1).

Built from an ``Event``, its scan results and the policy's ``Decision``; serialised with orjson here
and nowhere else. The input text is never copied into a verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from datetime import UTC, datetime
from typing import Any

import orjson

from llm_shield.streams.frozen import record

VERDICT_SCHEMA = "llm-shield.verdict/v1"


def utc_timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 in UTC with milliseconds and a ``Z``, as the SPEC example shows."""
    moment = moment or datetime.now(UTC)
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


@record
class Verdict:
    id: str
    kind: str
    decision: str
    risk_score: float
    scanners: dict[str, dict[str, Any]]
    cache_hit: bool
    latency_ms: float
    processed_at: str
    conversation_id: str | None = None
    tenant: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # The tenant policy version the decision was made under (0: the worker's own settings; None:
    # policies off), and the conversation block of an event with a conversation_id.
    policy_version: int | None = None
    conversation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": VERDICT_SCHEMA,
            "id": self.id,
            "kind": self.kind,
            "decision": self.decision,
            "risk_score": self.risk_score,
            "scanners": self.scanners,
            "cache_hit": self.cache_hit,
            "latency_ms": self.latency_ms,
            "processed_at": self.processed_at,
        }
        if self.conversation_id is not None:
            out["conversation_id"] = self.conversation_id
        if self.tenant is not None:
            out["tenant"] = self.tenant
        if self.policy_version is not None:
            out["policy_version"] = self.policy_version
        if self.conversation is not None:
            out["conversation"] = self.conversation
        out["metadata"] = dict(self.metadata)
        return out

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @property
    def is_alert(self) -> bool:
        return self.decision != "allow"
