"""Per-tenant policy: which scanner settings a tenant may override, the record on the policies
topic, and the book of policies every worker keeps and decides by.

The topic is compacted and keyed by tenant, so its latest record per key is the tenant's policy
and a tombstone deletes it. Anything can write to a topic, so every record is validated here: one
that is not a valid policy is logged once and ignored, and the tenant's previous policy stays.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from llm_shield.streams.config import (
    SCANNER_NAMES,
    ScannersSettings,
    Settings,
    override_settings,
    setting_names,
)
from llm_shield.streams.errors import ConfigError

log = logging.getLogger(__name__)

POLICY_SCHEMA = "llm-shield.policy/v1"
# What a tenant may change per scanner: where it flags, what a flag does, how it scores and what
# happens when the model cannot run. Models, variants and everything else stay the operator's.
TENANT_FIELDS = (
    "threshold",
    "response_threshold",
    "short_text_threshold",
    "action",
    "mode",
    "fail_mode",
)
TENANT_KEYS = tuple(f"scanners.{s}.{f}" for s in SCANNER_NAMES for f in TENANT_FIELDS)


class PolicyError(ConfigError):
    """A tenant policy names a field a tenant may not set, or a value out of range."""


@dataclass(frozen=True)
class TenantPolicy:
    """One tenant's overrides (dotted setting names, values as typed) and their version."""

    tenant: str
    version: int
    overrides: dict[str, Any]
    updated_at: str = ""
    scanners: ScannersSettings = field(default_factory=ScannersSettings, compare=False)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "schema": POLICY_SCHEMA,
                "tenant": self.tenant,
                "version": self.version,
                "overrides": self.overrides,
                "updated_at": self.updated_at,
            }
        )


def validate_overrides(base: Settings, overrides: Mapping[str, Any]) -> ScannersSettings:
    """The scanner settings ``overrides`` give on top of ``base``; ``PolicyError`` names the
    first field that a tenant may not set or whose value is invalid."""
    for key in overrides:
        if key not in TENANT_KEYS:
            known = key in setting_names()
            why = "is not a setting a tenant policy may change" if known else "is not a setting"
            raise PolicyError(
                f"{key} {why}; a policy sets scanners.<scanner>.<field> with field one of "
                f"{', '.join(TENANT_FIELDS)}"
            )
    try:
        return override_settings(base, overrides, "the policy").scanners
    except ConfigError as exc:
        raise PolicyError(str(exc)) from None


def parse_policy(base: Settings, key: bytes | None, value: bytes) -> TenantPolicy:
    """A record of the policies topic as a validated policy; ``PolicyError`` says what is wrong."""
    tenant = key.decode("utf-8", errors="replace") if key else ""
    if not tenant:
        raise PolicyError("a policy record needs the tenant as its key")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise PolicyError(f"not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != POLICY_SCHEMA:
        raise PolicyError(f"not a {POLICY_SCHEMA} object")
    overrides = data.get("overrides")
    version = data.get("version")
    if not isinstance(overrides, dict):
        raise PolicyError("overrides must be an object of setting names and values")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PolicyError("version must be a whole number >= 1")
    if data.get("tenant", tenant) != tenant:
        raise PolicyError(f"tenant {data.get('tenant')!r} does not match the key {tenant!r}")
    scanners = validate_overrides(base, overrides)
    return TenantPolicy(
        tenant=tenant,
        version=version,
        overrides=dict(overrides),
        updated_at=str(data.get("updated_at", "")),
        scanners=scanners,
    )


class PolicyBook:
    """The policies in force, by tenant: written by the worker's policy reader (event loop),
    read by the pipeline (its thread). Each change swaps the whole mapping, so a reader always
    sees one consistent set."""

    def __init__(self, base: Settings) -> None:
        self.base = base
        self._policies: dict[str, TenantPolicy] = {}
        self._lock = threading.Lock()
        self._refused: set[tuple[str, bytes]] = set()
        self.applied = 0
        self.refused = 0
        # Per tenant: the highest version any record named (the next one is above it), and why
        # its newest record was refused, while that record is the newest (``policy show``).
        self.versions: dict[str, int] = {}
        self.ignored: dict[str, str] = {}

    def apply(self, key: bytes | None, value: bytes | None) -> TenantPolicy | None:
        """Take one record of the policies topic; returns the policy now in force for its
        tenant (None after a tombstone), or the previous one if the record was refused."""
        tenant = key.decode("utf-8", errors="replace") if key else ""
        self.ignored.pop(tenant, None)
        if value is None:
            with self._lock:
                policies = dict(self._policies)
                removed = policies.pop(tenant, None)
                self._policies = policies
            if removed is not None:
                self.applied += 1
                log.info("policy for tenant %s deleted; the worker's settings apply", tenant)
            return None
        try:
            policy = parse_policy(self.base, key, value)
        except PolicyError as exc:
            self.refused += 1
            self.ignored[tenant] = str(exc)
            self._note_version(tenant, _named_version(value))
            marker = (tenant, value)
            if marker not in self._refused:  # logged once per distinct bad record
                self._refused.add(marker)
                log.warning(
                    "ignored an invalid policy record for tenant %r (%s); its previous policy "
                    "stays",
                    tenant,
                    exc,
                )
            return self._policies.get(tenant)
        with self._lock:
            self._policies = {**self._policies, tenant: policy}
        self._note_version(tenant, policy.version)
        self.applied += 1
        log.info("policy for tenant %s: version %d applied", tenant, policy.version)
        return policy

    def _note_version(self, tenant: str, version: int) -> None:
        self.versions[tenant] = max(self.versions.get(tenant, 0), version)

    def get(self, tenant: str | None) -> TenantPolicy | None:
        if not tenant:
            return None
        return self._policies.get(tenant)

    def scanners_for(self, tenant: str | None) -> tuple[ScannersSettings, int]:
        """The scanner settings an event of ``tenant`` is judged by, and the policy version
        (0: no policy of its own, the worker's settings)."""
        policy = self.get(tenant)
        if policy is None:
            return self.base.scanners, 0
        return policy.scanners, policy.version

    def snapshot(self) -> dict[str, TenantPolicy]:
        return dict(self._policies)


def _named_version(value: bytes) -> int:
    """The version a refused record names, if it names one (0 otherwise)."""
    try:
        version = orjson.loads(value).get("version", 0)
    except (orjson.JSONDecodeError, AttributeError):
        return 0
    return version if isinstance(version, int) and not isinstance(version, bool) else 0
