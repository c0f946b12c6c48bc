"""``llm-shield replay`` and ``llm-shield scan``: the pipeline run locally, without a broker."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

import click
import orjson

from llm_shield.ops.cli.common import (
    command_settings,
    configure_logging,
    open_lines,
    open_output,
    progress,
    settings_options,
)


@click.command()
@click.argument("file", metavar="FILE.jsonl")
@settings_options
@click.option(
    "-o", "--output", default=None, help="Write verdict JSON lines here [default: stdout]."
)
@click.option(
    "--deadletter",
    "deadletter_path",
    default=None,
    help="Write dead-letter records here [default: OUTPUT.deadletter.jsonl when -o is given].",
)
@click.option(
    "--kind",
    type=click.Choice(["prompt", "response"]),
    default="prompt",
    help="Kind of events without a kind field.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stderr.")
def replay(
    file: str,
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
    output: str | None,
    deadletter_path: str | None,
    kind: str,
    as_json: bool,
) -> None:
    """Run the pipeline offline over a JSONL log (no broker): verdict lines and a summary."""
    from llm_shield.ops.cli.render import summary_line
    from llm_shield.streams.heap import settle_heap
    from llm_shield.streams.pipeline import Pipeline
    from llm_shield.streams.replay import replay_lines

    settings = command_settings(config_file, broker, assignments)
    configure_logging(settings)
    if deadletter_path is None and output not in (None, "-"):
        out = Path(output)
        deadletter_path = str(out.with_name(out.stem + ".deadletter.jsonl"))
    from llm_shield.streams.conversation import ConversationBook

    # A log's conversations are followed across its lines as the worker follows them live.
    conversations = (
        ConversationBook(settings.conversations) if settings.conversations.enabled else None
    )
    pipeline = Pipeline(settings, conversations=conversations)
    settle_heap()  # as the worker does: a long log is the worker's steady state offline
    with open_lines(file) as handle:
        lines = handle.read().splitlines()
    with (
        open_output(output) as out_handle,
        (
            open_output(deadletter_path) if deadletter_path else contextlib.nullcontext()
        ) as dead_handle,
        progress(len(lines), "ev", sys.stderr.isatty()) as bar,
    ):
        summary = replay_lines(
            pipeline,
            lines,
            write_verdict=out_handle.write,
            write_dead_letter=dead_handle.write if dead_handle is not None else None,
            source=f"file:{file}",
            default_kind=kind,
            on_progress=bar.update,
        )
    if as_json:
        click.echo(orjson.dumps(summary.to_dict()).decode(), err=True)
    else:
        click.echo(summary_line(summary.to_dict()), err=True)
        if deadletter_path and summary.dead_letters:
            click.echo(f"dead letters written to {deadletter_path}", err=True)


@click.command()
@click.argument("text")
@settings_options
@click.option("--kind", type=click.Choice(["prompt", "response"]), default="prompt")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as one JSON object.")
def scan(
    text: str,
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
    kind: str,
    as_json: bool,
) -> None:
    """Scan one TEXT (- reads it from stdin) and print its verdict.

    The exit code is 0 whatever the decision; read the decision from the output.
    """
    from llm_shield.ops.cli.render import verdict_line
    from llm_shield.streams.events import Event
    from llm_shield.streams.pipeline import Pipeline

    settings = command_settings(config_file, broker, assignments)
    configure_logging(settings)
    if text == "-":
        text = sys.stdin.read()
    verdict = Pipeline(settings).scan_events([Event(id="scan", text=text, kind=kind)])[0]
    if as_json:
        click.echo(verdict.to_json().decode())
    else:
        click.echo(verdict_line(verdict.to_dict()))
