"""``llm-shield policy set / show / delete``: per-tenant overrides on the policies topic.

Every worker follows the topic and applies a change within about a second, without a restart. The
CLI validates a policy before it writes it; a record another client writes is validated by each
worker the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import orjson

from llm_shield.ops.cli.common import command_settings, configure_logging, settings_options
from llm_shield.registry.errors import ShieldError
from llm_shield.streams.config import Settings


class NoPolicy(ShieldError):
    """The tenant named has no policy on the topic."""

    exit_code = 1


def _current(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every tenant's latest policy record as stored (JSON objects), read from the topic."""
    from llm_shield.streams.kafka import ensure_topics, read_table

    async def run() -> dict[bytes, bytes]:
        await ensure_topics(settings)
        return await read_table(settings, settings.topics.policies)

    out: dict[str, dict[str, Any]] = {}
    for key, value in asyncio.run(run()).items():
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError:
            data = {"invalid": value.decode("utf-8", errors="replace")[:200]}
        out[key.decode("utf-8", errors="replace")] = data if isinstance(data, dict) else {}
    return out


def _assignments(pairs: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"expected KEY=VALUE, got {pair!r}")
        values[name.strip()] = value.strip()
    return values


@click.group()
def policy() -> None:
    """Per-tenant policy overrides, applied live by every worker (topic llm-shield.policies)."""


@policy.command("set")
@click.argument("tenant")
@click.argument("pairs", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.option("--replace", is_flag=True, help="Drop the tenant's other overrides.")
@settings_options
def set_policy(
    tenant: str,
    pairs: Sequence[str],
    replace: bool,
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
) -> None:
    """Set overrides for TENANT, e.g. scanners.toxicity.threshold=0.3 scanners.toxicity.action=flag.

    Keys are scanners.<scanner>.<field>, field one of threshold, response_threshold,
    short_text_threshold, action, mode, fail_mode. The tenant's other overrides stay unless
    --replace is given. An invalid value is refused here and nothing is written.
    """
    from llm_shield.streams.kafka import write_record
    from llm_shield.streams.tenant_policy import TenantPolicy, validate_overrides
    from llm_shield.streams.verdict import utc_timestamp

    settings = command_settings(config_file, broker, assignments)
    configure_logging(settings)
    if not tenant.strip():
        raise click.UsageError("TENANT must not be empty")
    wanted = _assignments(pairs)
    validate_overrides(settings, wanted)  # refuse before reading the broker
    existing = _current(settings).get(tenant, {})
    previous = existing.get("overrides") if not replace else None
    merged = {**(previous if isinstance(previous, dict) else {}), **wanted}
    scanners = validate_overrides(settings, merged)
    typed = {}
    for key in sorted(merged):
        _, scanner, name = key.split(".")
        typed[key] = getattr(scanners.get(scanner), name)
    version = existing.get("version")
    version = version + 1 if isinstance(version, int) and not isinstance(version, bool) else 1
    record = TenantPolicy(tenant, version, typed, utc_timestamp())
    asyncio.run(write_record(settings, settings.topics.policies, tenant.encode(), record.to_json()))
    shown = " ".join(f"{k}={v}" for k, v in typed.items())
    click.echo(f"policy for {tenant}: version {version}: {shown}")


@policy.command("show")
@click.argument("tenant", required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@settings_options
def show_policy(
    tenant: str | None,
    as_json: bool,
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
) -> None:
    """Print the policy of TENANT, or of every tenant that has one."""
    settings = command_settings(config_file, broker, assignments)
    configure_logging(settings)
    policies = _current(settings)
    if tenant is not None:
        if tenant not in policies:
            raise NoPolicy(f"tenant {tenant!r} has no policy (the worker's settings apply)")
        policies = {tenant: policies[tenant]}
    if not policies:
        click.echo("no tenant policies; every tenant gets the worker's settings", err=True)
        return
    for name in sorted(policies):
        data = policies[name]
        if as_json:
            click.echo(orjson.dumps({"tenant": name, **data}).decode())
            continue
        overrides = data.get("overrides")
        shown = (
            " ".join(f"{k}={v}" for k, v in sorted(overrides.items()))
            if isinstance(overrides, dict)
            else "(not a valid policy record: workers ignore it)"
        )
        click.echo(f"{name}  version {data.get('version', '?')}  {shown}")


@policy.command("delete")
@click.argument("tenant")
@settings_options
def delete_policy(
    tenant: str, config_file: Path | None, broker: str | None, assignments: Sequence[str]
) -> None:
    """Delete TENANT's policy: its events get the worker's settings again."""
    from llm_shield.streams.kafka import write_record

    settings = command_settings(config_file, broker, assignments)
    configure_logging(settings)
    if tenant not in _current(settings):
        raise NoPolicy(f"tenant {tenant!r} has no policy")
    asyncio.run(write_record(settings, settings.topics.policies, tenant.encode(), None))
    click.echo(f"policy for {tenant} deleted")
