"""What every command shares: the settings options, logging, input and output files, progress.

A user mistake here ends as one ``ShieldError`` line on stderr (``InputFileError`` for a file that
cannot be read or written), never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import click
import orjson

from llm_shield.registry.errors import ShieldError
from llm_shield.streams.config import Settings, load_settings, parse_assignment


class InputFileError(ShieldError):
    """A file the user named cannot be read or written (missing, a directory, no permission)."""

    exit_code = 2


SETTINGS_HELP = (
    "Settings come from defaults < --config FILE (TOML) < LLM_SHIELD_* environment < flags. "
    "Any setting can be given as --set NAME=VALUE, e.g. --set scanners.toxicity.threshold=0.7."
)


def settings_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--config, --broker and --set, shared by every command that needs settings."""
    func = click.option(
        "--set",
        "assignments",
        multiple=True,
        metavar="NAME=VALUE",
        help="Override any setting by its dotted name (repeatable).",
    )(func)
    func = click.option(
        "--broker",
        "-b",
        default=None,
        metavar="HOST:PORT",
        help="Kafka bootstrap servers [env LLM_SHIELD_BROKER; default 127.0.0.1:9092].",
    )(func)
    func = click.option(
        "--config",
        "config_file",
        type=click.Path(path_type=Path),
        default=None,
        help="TOML settings file [env LLM_SHIELD_CONFIG].",
    )(func)
    return func


def command_settings(
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
    **extra: Any,
) -> Settings:
    """The settings a command runs with: its --broker and --set on top of file and environment."""
    overrides: dict[str, Any] = dict(parse_assignment(a) for a in assignments)
    overrides["broker"] = broker
    overrides.update(extra)
    return load_settings(config_file, overrides)


def configure_logging(settings: Settings) -> None:
    """Log lines on stderr at the configured level, without aiokafka's repeated connect errors."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if settings.log_level.lower() != "debug":
        # aiokafka logs every refused connection at ERROR; our retry line already says it once.
        for name in ("aiokafka", "aiokafka.conn", "asyncio"):
            logging.getLogger(name).addFilter(_drop_connect_noise)


def _drop_connect_noise(record: logging.LogRecord) -> bool:
    """False for aiokafka's refused-connection lines, and for asyncio's report of a dropped
    connection's future that nobody read: a client that failed to start leaves its connection's
    reset in a future, and whether asyncio reports it (with a traceback, after our one error
    line) depends only on the order the garbage collector frees it in."""
    message = str(record.msg)
    if message.startswith("Unable connect to"):
        return False
    if message.startswith("Future exception was never retrieved") and record.exc_info:
        return not isinstance(record.exc_info[1], ConnectionError)
    return True


def open_lines(path: str) -> contextlib.AbstractContextManager[IO[bytes]]:
    """``-`` is stdin; anything else must be a readable file (one clear error if not)."""
    if path == "-":
        return contextlib.nullcontext(sys.stdin.buffer)
    file = Path(path)
    if not file.exists():
        raise InputFileError(f"file not found: {path}")
    if file.is_dir():
        raise InputFileError(f"is a directory, not a file: {path}")
    try:
        return open(file, "rb")  # noqa: SIM115 - returned as a context manager
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror}") from None


@contextlib.contextmanager
def open_output(path: str | None) -> Iterator[IO[bytes]]:
    """Where a command writes: stdout for None or ``-``, else the file (one clear error if not)."""
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        handle = open(path, "wb")  # noqa: SIM115
    except OSError as exc:
        raise InputFileError(f"cannot write {path}: {exc.strerror}") from None
    with handle:
        yield handle


def progress(total: int | None, unit: str, enabled: bool) -> Any:
    """A tqdm bar on stderr, so that stdout stays clean for JSON lines."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, disable=not enabled, file=sys.stderr, unit_scale=True)


def echo_outcomes(as_json: bool) -> Callable[[Sequence[Any]], None]:
    """A worker callback printing each verdict and dead letter as a readable line or JSON."""
    from llm_shield.ops.cli.render import deadletter_line, verdict_line
    from llm_shield.streams.events import DeadLetter

    def echo(outcomes: Sequence[Any]) -> None:
        for outcome in outcomes:
            data = outcome.to_dict()
            if as_json:
                click.echo(orjson.dumps(data).decode())
            elif isinstance(outcome, DeadLetter):
                click.echo(deadletter_line(data))
            else:
                click.echo(verdict_line(data))

    return echo


def scanner_modes(pipeline: Any) -> str:
    """``prompt_injection=ml  toxicity=ml ...   models: multi_task/starter-minilm@1:int8``."""
    modes = "  ".join(f"{name}={how}" for name, how in pipeline.scanners.describe().items())
    refs = pipeline.scanners.model_refs()
    return modes + (f"   models: {', '.join(refs)} (verified)" if refs else "")
