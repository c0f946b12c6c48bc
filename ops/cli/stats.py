"""``llm-shield stats``: the workers' windowed statistics, merged per window, tenant and kind.

Reads the stats topic (every worker publishes each window once it has closed) and prints one row
per window, tenant and kind; on a terminal the table is redrawn as new windows arrive.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click
import orjson

from llm_shield.ops.cli.common import command_settings, configure_logging, settings_options

COLUMNS = (
    ("window", 20),
    ("tenant", 14),
    ("kind", 9),
    ("events", 8),
    ("allow", 8),
    ("flag", 6),
    ("block", 6),
    ("inj", 5),
    ("tox", 5),
    ("esc", 4),
    ("cache", 6),
    ("p50ms", 6),
    ("p99ms", 6),
    ("workers", 7),
)


def render_rows(merged: dict, workers: dict, limit: int) -> list[str]:
    """The newest ``limit`` rows, oldest first, under a header."""
    from datetime import UTC, datetime

    header = " ".join(
        f"{name:>{width}}" if i > 2 else f"{name:<{width}}"
        for i, (name, width) in enumerate(COLUMNS)
    )
    lines = [header]
    keys = sorted(merged, key=lambda k: (k.start, k.tenant, k.kind))[-limit:]
    for key in keys:
        counts = merged[key]
        latency = counts.latency_summary()
        cache = f"{counts.cache_hits / counts.events:.0%}" if counts.events else "-"
        cells = [
            datetime.fromtimestamp(key.start, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            key.tenant,
            key.kind,
            counts.events,
            counts.decisions.get("allow", 0),
            counts.decisions.get("flag", 0),
            counts.decisions.get("block", 0),
            counts.flagged.get("prompt_injection", 0),
            counts.flagged.get("toxicity", 0),
            counts.escalations,
            cache,
            "-" if latency["p50"] is None else f"{latency['p50']:.0f}",
            "-" if latency["p99"] is None else f"{latency['p99']:.0f}",
            len(workers.get(key, ())),
        ]
        lines.append(
            " ".join(
                f"{cell!s:>{width}}" if i > 2 else f"{cell!s:<{width}}"
                for i, (cell, (_, width)) in enumerate(zip(cells, COLUMNS, strict=True))
            )
        )
    return lines


@click.command("stats")
@settings_options
@click.option("--tenant", default=None, help="Only this tenant's windows.")
@click.option(
    "--follow/--no-follow",
    default=None,
    help="Keep reading and redraw as windows close [default: on a terminal].",
)
@click.option("--json", "as_json", is_flag=True, help="Merged windows as JSON lines.")
@click.option(
    "--rows", type=click.IntRange(min=1), default=30, help="Newest windows shown [default: 30]."
)
@click.option(
    "--timeout",
    "timeout_seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="With --follow: stop after S seconds without a new record.",
)
def stats(
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
    tenant: str | None,
    follow: bool | None,
    as_json: bool,
    rows: int,
    timeout_seconds: float | None,
) -> None:
    """Live per-tenant statistics: events, decisions, flags, escalations, cache, latency."""
    from llm_shield.streams.kafka import TopicFollower
    from llm_shield.streams.stats import WindowCounts, parse_window_record

    settings = command_settings(config_file, broker, assignments)
    configure_logging(settings)
    follow = sys.stdout.isatty() if follow is None else follow
    merged: dict = {}
    workers: dict = {}
    seen = {"at": time.monotonic(), "new": False}

    def take(key: bytes | None, value: bytes | None) -> None:
        parsed = parse_window_record(value or b"")
        if parsed is None:
            return
        window, counts, worker = parsed
        if tenant is not None and window.tenant != tenant:
            return
        merged.setdefault(window, WindowCounts()).merge(counts)
        workers.setdefault(window, set()).add(worker)
        seen["at"], seen["new"] = time.monotonic(), True

    def as_lines() -> list[str]:
        if not as_json:
            return render_rows(merged, workers, rows)
        out = []
        for key in sorted(merged, key=lambda k: (k.start, k.tenant, k.kind))[-rows:]:
            counts = merged[key]
            out.append(
                orjson.dumps(
                    {
                        "window_start_unix": key.start,
                        "tenant": key.tenant,
                        "kind": key.kind,
                        "events": counts.events,
                        "decisions": counts.decisions,
                        "flagged": counts.flagged,
                        "escalations": counts.escalations,
                        "cache_hits": counts.cache_hits,
                        "latency_ms": counts.latency_summary(),
                        "score_histograms": counts.histograms,
                        "workers": len(workers[key]),
                    }
                ).decode()
            )
        return out

    async def run() -> None:
        follower = TopicFollower(settings, settings.topics.stats, take, wait_ms=200)
        await follower.start()
        try:
            if not follow:
                return
            redraw = sys.stdout.isatty() and not as_json
            shown = 0
            while True:
                if seen["new"]:
                    seen["new"] = False
                    lines = as_lines()
                    if redraw:
                        click.echo("\x1b[H\x1b[2J" + "\n".join(lines))
                    else:
                        click.echo("\n".join(lines[shown:] if as_json else lines))
                        shown = len(lines)
                if timeout_seconds is not None and time.monotonic() - seen["at"] > timeout_seconds:
                    return
                await asyncio.wait_for(follower.poll(), timeout=5)
        finally:
            await follower.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return
    if not follow:
        if not merged:
            click.echo("no stats yet: workers publish each window once it has closed", err=True)
            return
        click.echo("\n".join(as_lines()))
