"""``llm-shield policy set / show / delete``: per-tenant overrides on the policies topic.

Every worker follows the topic and applies a change within about a second, without a restart. The
CLI validates a policy before it writes it; a record another client writes is validated by each
worker the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import orjson

from llm_shield.ops.cli.common import command_settings, configure_logging, settings_options
from llm_shield.registry.errors import ShieldError
from llm_shield.streams.config import Settings
from llm_shield.streams.tenant_policy import PolicyBook


class NoPolicy(ShieldError):
    """The tenant named has no policy on the topic."""

    exit_code = 1


def _read(settings: Settings) -> PolicyBook:
    """The policies topic read the way every worker reads it, record by record."""
    from llm_shield.streams.kafka import TopicFollower, ensure_topics

    book = PolicyBook(settings)

    async def run() -> None:
        await ensure_topics(settings)
        follower = TopicFollower(settings, settings.topics.policies, book.apply)
        await follower.start()
        await follower.stop()

    # A refused record is reported by `policy show`, not as a worker's log line.
    logging.getLogger("llm_shield.streams.tenant_policy").setLevel(logging.ERROR)
    asyncio.run(run())
    return book


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
    book = _read(settings)
    current = book.get(tenant)
    previous = current.overrides if current is not None and not replace else {}
    merged = {**previous, **wanted}
    scanners = validate_overrides(settings, merged)
    typed = {}
    for key in sorted(merged):
        _, scanner, name = key.split(".")
        value = getattr(scanners.get(scanner), name)
        typed[key] = "model" if value is None else value  # a response threshold left to the model
    version = book.versions.get(tenant, 0) + 1
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
    book = _read(settings)
    in_force = book.snapshot()
    tenants = sorted(set(in_force) | set(book.ignored))
    if tenant is not None:
        if tenant not in tenants:
            raise NoPolicy(f"tenant {tenant!r} has no policy (the worker's settings apply)")
        tenants = [tenant]
    if not tenants:
        click.echo("no tenant policies; every tenant gets the worker's settings", err=True)
        return
    for name in tenants:
        policy = in_force.get(name)
        ignored = book.ignored.get(name)
        if as_json:
            row: dict[str, Any] = {"tenant": name, "version": None, "overrides": None}
            if policy is not None:
                row.update(version=policy.version, overrides=policy.overrides)
                row["updated_at"] = policy.updated_at
            if ignored is not None:
                row["ignored_newest_record"] = ignored
            click.echo(orjson.dumps(row).decode())
            continue
        if policy is None:
            line = f"{name}  no policy in force"
        else:
            shown = " ".join(f"{k}={v}" for k, v in sorted(policy.overrides.items()))
            line = f"{name}  version {policy.version}  {shown}"
        if ignored is not None:
            line += f"  (its newest record is ignored by the workers: {ignored})"
        click.echo(line)


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
    book = _read(settings)
    if book.get(tenant) is None and tenant not in book.ignored:
        raise NoPolicy(f"tenant {tenant!r} has no policy")
    asyncio.run(write_record(settings, settings.topics.policies, tenant.encode(), None))
    click.echo(f"policy for {tenant} deleted")
