"""The ``llm-shield`` command line (click), on top of every other part: one module a command group.

Commands are thin adapters around the pipeline, the worker, Kafka and the registry. A user mistake
(any ``ShieldError``) ends as one line on stderr and its exit code, never a traceback; a traceback
means a bug in our code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from llm_shield.ops.cli import (
    bench,
    inline,
    models,
    offline,
    policy,
    schema,
    settings,
    stats,
    topics,
    worker,
)
from llm_shield.ops.cli.common import SETTINGS_HELP
from llm_shield.registry.errors import ShieldError
from llm_shield.streams import __version__


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=SETTINGS_HELP + " `llm-shield settings` prints them all with their defaults.",
)
@click.version_option(__version__, prog_name="llm-shield")
def cli() -> None:
    """Kafka-native guardrail worker: injection, toxicity and sentiment verdicts per event."""


for _command in (
    worker.worker,
    worker.dev,
    topics.publish,
    topics.tail,
    offline.replay,
    offline.scan,
    inline.check,
    inline.serve,
    schema.schema,
    settings.show_settings,
    models.models,
    bench.bench,
    policy.policy,
    stats.stats,
):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: ShieldError -> one line on stderr and its exit code."""
    try:
        cli.main(args=argv, prog_name="llm-shield", standalone_mode=False)
    except ShieldError as exc:
        click.echo(f"llm-shield: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
