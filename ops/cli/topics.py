"""``llm-shield publish`` and ``llm-shield tail``: events into topics, records out of them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import click
import orjson

from llm_shield.ops.cli.common import (
    command_settings,
    configure_logging,
    open_lines,
    progress,
    settings_options,
)


@click.command()
@click.argument("file", metavar="FILE.jsonl")
@settings_options
@click.option(
    "--topic",
    default=None,
    help="Topic to publish to [default: by each event's kind: prompts, or responses].",
)
def publish(
    file: str,
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
    topic: str | None,
) -> None:
    """Publish events, one JSON object a line, to the prompts or responses topic (- for stdin).

    Lines are sent as they are, malformed ones included: the worker dead-letters them.
    """
    from llm_shield.streams.kafka import publish_lines

    settings = command_settings(config_file, broker, assignments)
    configure_logging(settings)
    with open_lines(file) as handle:
        lines = handle.read().splitlines()
    with progress(len(lines), "ev", sys.stderr.isatty()) as bar:
        report = asyncio.run(publish_lines(settings, lines, topic=topic, on_progress=bar.update))
    where = ", ".join(f"{t} {n:,}" for t, n in sorted(report.by_topic.items())) or "nothing"
    click.echo(f"published {report.published:,} events ({where}) to {settings.broker}", err=True)


@click.command()
@settings_options
@click.option("--topic", default=None, help="Topic to read [default: the verdicts topic].")
@click.option(
    "--max", "max_records", type=click.IntRange(min=1), default=None, help="Stop after N."
)
@click.option(
    "--timeout",
    "timeout_seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop after S seconds without a new record [default: wait forever].",
)
@click.option("--from-end", is_flag=True, help="Only records published from now on.")
@click.option("--human", is_flag=True, help="One readable line per verdict instead of JSON.")
def tail(
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
    topic: str | None,
    max_records: int | None,
    timeout_seconds: float | None,
    from_end: bool,
    human: bool,
) -> None:
    """Print records of a topic (verdicts by default) as JSON lines, from the beginning."""
    from llm_shield.ops.cli.render import deadletter_line, verdict_line
    from llm_shield.streams.kafka import read_topic

    settings = command_settings(config_file, broker, assignments)
    configure_logging(settings)
    topic = topic or settings.topics.verdicts

    async def run() -> int:
        count = 0
        async for record in read_topic(
            settings,
            topic,
            max_records=max_records,
            timeout_seconds=timeout_seconds,
            from_beginning=not from_end,
        ):
            count += 1
            value = record.value or b""
            try:
                data = orjson.loads(value)
            except orjson.JSONDecodeError:
                data = value.decode("utf-8", errors="replace")
            if human and isinstance(data, dict):
                is_dead = str(data.get("schema", "")).startswith("llm-shield.deadletter")
                click.echo(deadletter_line(data) if is_dead else verdict_line(data))
            else:
                click.echo(orjson.dumps(data).decode())
        return count

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
