"""``llm-shield bench``: the benchmark report (``ops/bench.py`` does the measuring)."""

from __future__ import annotations

from pathlib import Path

import click
import orjson


@click.command()
@click.option(
    "--events",
    "events_count",
    type=click.IntRange(min=50),
    default=3000,
    show_default=True,
    help="How many events the run uses.",
)
@click.option(
    "--quick",
    is_flag=True,
    help="A short run (about four minutes on 2 cores with AVX-512, eight with AVX2 only): 600 "
    "events.",
)
@click.option("--variant", type=click.Choice(["fp32", "int8"]), default="int8", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the JSON report here.",
)
def bench(events_count: int, quick: bool, variant: str, output: Path | None) -> None:
    """Benchmarks on the same texts: bare model, one text at a time, replay and Kafka (default
    modes and ml), cache hits, latency, inline checks through the client and HTTP, and the
    worker with --processes N against one process.

    Prints one JSON report; progress goes to stderr. Needs the starter models (make models).
    """
    from llm_shield.ops.bench import run_bench

    report = run_bench(600 if quick else events_count, quick=quick, variant=variant)
    text = orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()
    click.echo(text)
    if output is not None:
        output.write_text(text + "\n")
