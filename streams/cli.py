"""The ``llm-shield`` command line (click): thin adapters around the pipeline, the worker and Kafka.

A user mistake ends as one line on stderr and a non-zero exit code, never a traceback; a traceback
means a bug in our code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import IO, Any

import click
import orjson

from llm_shield.streams import __version__
from llm_shield.streams.config import Settings, load_settings, parse_assignment
from llm_shield.streams.errors import ConfigError, InputFileError, ShieldError

_SETTINGS_HELP = (
    "Settings come from defaults < --config FILE (TOML) < LLM_SHIELD_* environment < flags. "
    "Any setting can be given as --set NAME=VALUE, e.g. --set scanners.toxicity.threshold=0.7."
)


def _settings_options(func: Callable[..., Any]) -> Callable[..., Any]:
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


def _settings(
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
    **extra: Any,
) -> Settings:
    overrides: dict[str, Any] = dict(parse_assignment(a) for a in assignments)
    overrides["broker"] = broker
    overrides.update(extra)
    return load_settings(config_file, overrides)


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if settings.log_level.lower() != "debug":
        # aiokafka logs every refused connection at ERROR; our retry line already says it once.
        for name in ("aiokafka", "aiokafka.conn"):
            logging.getLogger(name).addFilter(_drop_connect_noise)


def _drop_connect_noise(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Unable connect to")


def _open_lines(path: str) -> contextlib.AbstractContextManager[IO[bytes]]:
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
def _output(path: str | None) -> Iterator[IO[bytes]]:
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


def _progress(total: int | None, unit: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, disable=not enabled, file=sys.stderr, unit_scale=True)


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=_SETTINGS_HELP + " `llm-shield settings` prints them all with their defaults.",
)
@click.version_option(__version__, prog_name="llm-shield")
def cli() -> None:
    """Kafka-native guardrail worker: injection, toxicity and sentiment verdicts per event."""


# --------------------------------------------------------------------------------------- worker


def _echo_outcomes(as_json: bool) -> Callable[[Sequence[Any]], None]:
    from llm_shield.streams.events import DeadLetter
    from llm_shield.streams.render import deadletter_line, verdict_line

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


def _scanner_modes(pipeline: Any) -> str:
    """``prompt_injection=ml  toxicity=ml ...   models: multi_task/starter-minilm@1:int8``."""
    modes = "  ".join(f"{name}={how}" for name, how in pipeline.scanners.describe().items())
    refs = pipeline.scanners.model_refs()
    return modes + (f"   models: {', '.join(refs)} (verified)" if refs else "")


@cli.command()
@_settings_options
@click.option("--echo/--no-echo", default=False, help="Print each verdict as it is produced.")
@click.option("--json", "as_json", is_flag=True, help="With --echo: JSON lines instead of text.")
def worker(
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
    echo: bool,
    as_json: bool,
) -> None:
    """Run the worker against the configured Kafka brokers until SIGINT/SIGTERM.

    To scale out, start more workers with the same group_id: Kafka splits the input partitions
    between them, so keep kafka.partitions >= the number of workers.
    """
    from llm_shield.streams.worker import run_worker

    settings = _settings(config_file, broker, assignments)
    _configure_logging(settings)

    def ready(seconds: float, pipeline: Any) -> None:
        click.echo(
            f"llm-shield worker: broker {settings.broker}, group {settings.group_id}, "
            f"ready in {seconds:.1f} s; scanners: {_scanner_modes(pipeline)}",
            err=True,
        )

    code = run_worker(
        settings,
        on_outcomes=_echo_outcomes(as_json) if echo else None,
        on_ready=ready,
        restart_on_broker_reset=True,
    )
    sys.exit(code)


def demo_events() -> list[bytes]:
    """The bundled example events that ``dev --demo`` publishes."""
    text = resources.files("llm_shield.streams").joinpath("examples", "events.jsonl").read_bytes()
    return [line for line in text.splitlines() if line.strip()]


@cli.command()
@_settings_options
@click.option(
    "--port",
    type=int,
    default=None,
    help="Port of the embedded broker [default: 9092, or any free port if 9092 is taken; 0 = any].",
)
@click.option("--demo", is_flag=True, help="Publish the bundled example events once ready.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print verdicts as they arrive.")
@click.option("--json", "as_json", is_flag=True, help="Print verdicts as JSON lines.")
def dev(
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
    port: int | None,
    demo: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Start an embedded Kafka-protocol broker on 127.0.0.1 and a worker against it.

    The broker keeps topics in memory: everything is gone when dev stops. Ctrl-C stops the
    worker (committing what it finished) and then the broker.
    """
    from llm_shield.streams.broker import EmbeddedBroker, port_in_use
    from llm_shield.streams.worker import run_worker

    if broker:
        raise ConfigError("dev runs its own broker; use `llm-shield worker --broker` for another")
    if port is None:
        port = 0 if port_in_use("127.0.0.1", 9092) else 9092
    # Short group timeouts: the embedded broker makes a new group's first join wait ~half of them.
    base = _settings(config_file, None, assignments)
    embedded = EmbeddedBroker(port=port)
    embedded.start()
    try:
        settings = load_settings(
            config_file,
            {
                **dict(parse_assignment(a) for a in assignments),
                "broker": embedded.bootstrap,
                "kafka.session_timeout_seconds": min(base.kafka.session_timeout_seconds, 6.0),
                "kafka.rebalance_timeout_seconds": min(base.kafka.rebalance_timeout_seconds, 6.0),
            },
        )
        _configure_logging(settings)

        def ready(seconds: float, pipeline: Any) -> None:
            click.echo(
                f"llm-shield dev: broker {embedded.bootstrap} (embedded, in memory), "
                f"worker ready in {seconds:.1f} s",
                err=True,
            )
            click.echo(f"  scanners: {_scanner_modes(pipeline)}", err=True)
            click.echo(
                f"  publish:  llm-shield publish FILE.jsonl --broker {embedded.bootstrap}     "
                f"watch: llm-shield tail --topic {settings.topics.alerts} "
                f"--broker {embedded.bootstrap}",
                err=True,
            )
            if demo:
                click.echo("  demo:     publishing the bundled example events", err=True)

        code = run_worker(
            settings,
            on_outcomes=None if quiet else _echo_outcomes(as_json),
            on_ready=ready,
            publish_on_ready=demo_events() if demo else None,
        )
    finally:
        embedded.stop()
    click.echo("llm-shield dev: worker stopped; broker stopped.", err=True)
    sys.exit(code)


# ------------------------------------------------------------------------------- kafka clients


@cli.command()
@click.argument("file", metavar="FILE.jsonl")
@_settings_options
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

    settings = _settings(config_file, broker, assignments)
    _configure_logging(settings)
    with _open_lines(file) as handle:
        lines = handle.read().splitlines()
    with _progress(len(lines), "ev", sys.stderr.isatty()) as bar:
        report = asyncio.run(publish_lines(settings, lines, topic=topic, on_progress=bar.update))
    where = ", ".join(f"{t} {n:,}" for t, n in sorted(report.by_topic.items())) or "nothing"
    click.echo(f"published {report.published:,} events ({where}) to {settings.broker}", err=True)


@cli.command()
@_settings_options
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
    from llm_shield.streams.kafka import read_topic
    from llm_shield.streams.render import deadletter_line, verdict_line

    settings = _settings(config_file, broker, assignments)
    _configure_logging(settings)
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


# ------------------------------------------------------------------------------------- offline


@cli.command()
@click.argument("file", metavar="FILE.jsonl")
@_settings_options
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
    from llm_shield.streams.pipeline import Pipeline
    from llm_shield.streams.render import summary_line
    from llm_shield.streams.replay import replay_lines

    settings = _settings(config_file, broker, assignments)
    _configure_logging(settings)
    if deadletter_path is None and output not in (None, "-"):
        out = Path(output)
        deadletter_path = str(out.with_name(out.stem + ".deadletter.jsonl"))
    pipeline = Pipeline(settings)
    with _open_lines(file) as handle:
        lines = handle.read().splitlines()
    with (
        _output(output) as out_handle,
        _output(deadletter_path) if deadletter_path else contextlib.nullcontext() as dead_handle,
        _progress(len(lines), "ev", sys.stderr.isatty()) as bar,
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


@cli.command()
@click.argument("text")
@_settings_options
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
    from llm_shield.streams.events import Event
    from llm_shield.streams.pipeline import Pipeline
    from llm_shield.streams.render import verdict_line

    settings = _settings(config_file, broker, assignments)
    _configure_logging(settings)
    if text == "-":
        text = sys.stdin.read()
    verdict = Pipeline(settings).scan_events([Event(id="scan", text=text, kind=kind)])[0]
    if as_json:
        click.echo(verdict.to_json().decode())
    else:
        click.echo(verdict_line(verdict.to_dict()))


@cli.command("settings")
@_settings_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
def show_settings(
    config_file: Path | None, broker: str | None, assignments: Sequence[str], as_json: bool
) -> None:
    """Print every setting: its effective value and its environment variable."""
    from llm_shield.streams.config import env_name, setting_names, shown_value

    settings = _settings(config_file, broker, assignments)
    values = {name: shown_value(settings, name) for name in setting_names()}
    if as_json:
        plain = {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}
        click.echo(orjson.dumps(plain).decode())
        return
    width = max(len(name) for name in values)
    for name, value in values.items():
        click.echo(f"{name:<{width}}  {value!s:<32}  {env_name(name)}")


# ---------------------------------------------------------------------------------- models


@cli.group()
def models() -> None:
    """The model registry: list, fetch, verify, path, remove; build, convert, eval."""


def _home_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--home",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Model home [env LLM_SHIELD_HOME; default ~/.cache/llm-shield/models].",
    )(func)


def _resolve_home(home: Path | None) -> Path:
    from llm_shield.registry.home import default_home

    return (home or default_home()).expanduser()


def _catalog_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--catalog",
        "catalog_files",
        multiple=True,
        type=click.Path(path_type=Path, dir_okay=False),
        help="Extra catalog file with full manifest entries [env LLM_SHIELD_CATALOG].",
    )(func)


def _entry_or_catalog(home: Path, item: Any) -> Any:
    """The installed manifest entry when there is one, else the catalog's (may be None)."""
    from llm_shield.registry.home import entry_path
    from llm_shield.registry.manifest import load_entry

    path = entry_path(home, item.id, item.version)
    return load_entry(path) if path.exists() else item.entry


@models.command("list")
@_home_option
@_catalog_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model.")
def models_list(home: Path | None, catalog_files: Sequence[Path], as_json: bool) -> None:
    """Every model the registry knows: variants, installed or not, size, source, license."""
    from llm_shield.registry.catalog import load_catalog
    from llm_shield.registry.install import installed_size, installed_variants

    home = _resolve_home(home)
    rows = []
    for item in load_catalog(catalog_files).values():
        entry = _entry_or_catalog(home, item)
        here = installed_variants(home, entry) if entry is not None else []
        rows.append(
            {
                "id": item.id,
                "version": item.version,
                "task": item.task,
                "variants": list(entry.variants if entry is not None else item.variants),
                "installed": here,
                "size_bytes": installed_size(home, entry) if here else None,
                "source": item.source,
                "needs": {"hub": "network", "build": "models build"}.get(item.kind, "download"),
                "license": item.license,
            }
        )
    if as_json:
        for row in rows:
            click.echo(orjson.dumps(row).decode())
        return
    width = max((len(f"{r['id']}@{r['version']}") for r in rows), default=10)
    for row in rows:
        name = f"{row['id']}@{row['version']}"
        state = ("installed " + ",".join(row["installed"])) if row["installed"] else "-"
        size = f"{row['size_bytes'] / 1e6:.1f} MB" if row["size_bytes"] else ""
        needs = f"needs {row['needs']}" if not row["installed"] else ""
        click.echo(
            f"{name:<{width}}  {','.join(row['variants']):<14} {state:<24} {size:>9}  "
            f"{needs:<19} {row['source']}  [{row['license']}]"
        )


@models.command("fetch")
@click.argument("ref", metavar="ID[@VARIANT]")
@_home_option
@_catalog_option
def models_fetch(ref: str, home: Path | None, catalog_files: Sequence[Path]) -> None:
    """Install a model (all variants, or one) into the model home, verifying every file."""
    from llm_shield.registry.catalog import find, load_catalog, parse_ref
    from llm_shield.registry.install import install

    model_id, variant = parse_ref(ref)
    item = find(load_catalog(catalog_files), model_id)
    home = _resolve_home(home)
    entry = install(item, home, [variant] if variant else None)
    click.echo(f"installed {entry.id}@{entry.version} ({variant or ', '.join(entry.variants)})")


def _installed_matching(home: Path, ref: str | None) -> tuple[list[Any], str | None]:
    """Installed manifest entries, all or those of one model id; the variant named, if any."""
    from llm_shield.registry.catalog import parse_ref
    from llm_shield.registry.home import installed_entries
    from llm_shield.registry.install import ModelNotInstalled

    entries = installed_entries(home)
    if ref is None:
        return entries, None
    model_id, variant = parse_ref(ref)
    entries = [e for e in entries if e.id == model_id]
    if not entries:
        raise ModelNotInstalled(f"{model_id} is not installed in {home}")
    return entries, variant


@models.command("verify")
@click.argument("ref", metavar="[ID]", required=False)
@_home_option
def models_verify(ref: str | None, home: Path | None) -> None:
    """Re-hash installed files against their manifests; exits 5 naming any file that differs."""
    from llm_shield.registry.install import ChecksumMismatch, verify

    home = _resolve_home(home)
    entries, _ = _installed_matching(home, ref)
    problems = []
    for entry in entries:
        found = verify(home, entry)
        problems.extend(found)
        click.echo(f"{entry.id}@{entry.version}: {'ok' if not found else 'CHANGED'}")
    if problems:
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        raise ChecksumMismatch(f"{len(problems)} installed file(s) do not match their manifest")


@models.command("path")
@click.argument("ref", metavar="ID[@VARIANT]")
@_home_option
def models_path(ref: str, home: Path | None) -> None:
    """Print where an installed model (or one of its variants) lives."""
    from llm_shield.registry.home import model_dir
    from llm_shield.registry.install import ModelNotInstalled

    home = _resolve_home(home)
    entries, variant = _installed_matching(home, ref)
    entry = entries[-1]
    folder = model_dir(home, entry.id, entry.version)
    if variant:
        folder = folder / variant
        if not folder.is_dir():
            raise ModelNotInstalled(f"{entry.id}@{variant} is not installed")
    click.echo(str(folder))


@models.command("remove")
@click.argument("ref", metavar="ID")
@_home_option
def models_remove(ref: str, home: Path | None) -> None:
    """Uninstall a model (every version of it) from the model home."""
    from llm_shield.registry.install import remove

    home = _resolve_home(home)
    entries, _ = _installed_matching(home, ref)
    for entry in entries:
        remove(home, entry.id, entry.version)
        click.echo(f"removed {entry.id}@{entry.version}")


@models.command("build")
@_home_option
@click.option("--force", is_flag=True, help="Rebuild even if the recipe hash says up to date.")
def models_build(home: Path | None, force: bool) -> None:
    """Build the starter models from packaged assets (needs the build extra: make models)."""
    from llm_shield.ops.build_models import build

    entries = build(_resolve_home(home), force=force)
    for entry in entries:
        click.echo(f"{entry.id}@{entry.version}  variants: {', '.join(entry.variants)}")


@models.command("eval")
@_home_option
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("docs/model-card.md"),
    show_default=True,
    help="Where to write the generated model card.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the raw report as JSON.",
)
def models_eval(home: Path | None, output: Path, json_path: Path | None) -> None:
    """Measure every starter model on held-out data and write the model card."""
    from llm_shield.ops.evaluate import write_model_card

    report = write_model_card(_resolve_home(home), output, json_path=json_path)
    click.echo(f"model card written to {output}", err=True)
    for line in report.get("headline", []):
        click.echo(line)


@models.command("convert")
@click.argument("source")
@click.option(
    "--task",
    type=click.Choice(["prompt_injection", "toxicity", "sentiment"]),
    required=True,
    help="Which scanner the model serves.",
)
@click.option("--name", default=None, help="Model name in the registry [default: from SOURCE].")
@click.option("--version", "model_version", default="1", show_default=True)
@click.option(
    "--positive-label",
    default=None,
    help="Label that means risky (injection/toxic/negative) [default: guessed].",
)
@click.option("--max-length", type=int, default=512, show_default=True)
@_home_option
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the validation report (max logit differences) as JSON here.",
)
def models_convert(
    source: str,
    task: str,
    name: str | None,
    model_version: str,
    positive_label: str | None,
    max_length: int,
    home: Path | None,
    report: Path | None,
) -> None:
    """Convert a Hugging Face sequence-classification model (a local folder, or a hub id where a
    network exists) to ONNX fp32, fp16 and int8, validate it, and register it."""
    from llm_shield.ops.convert import convert

    result = convert(
        source,
        task=task,
        home=_resolve_home(home),
        name=name,
        version=model_version,
        positive_label=positive_label,
        max_length=max_length,
    )
    if report:
        report.write_bytes(orjson.dumps(result.report, option=orjson.OPT_INDENT_2))
    click.echo(f"registered {result.entry.id}@{result.entry.version}")
    for variant, diff in result.report["max_abs_logit_diff"].items():
        click.echo(f"  {variant}: max |logit - pytorch| = {diff:.2e}")


@cli.command()
@click.option(
    "--events",
    "events_count",
    type=click.IntRange(min=50),
    default=3000,
    show_default=True,
    help="How many events the run uses.",
)
@click.option("--quick", is_flag=True, help="A short run (under a minute): 600 events.")
@click.option("--variant", type=click.Choice(["fp32", "int8"]), default="int8", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the JSON report here.",
)
def bench(events_count: int, quick: bool, variant: str, output: Path | None) -> None:
    """Benchmarks: bare model, one text at a time, replay, Kafka cold / cache hits / latency.

    Prints one JSON report; progress goes to stderr. Needs the starter models (make models).
    """
    from llm_shield.ops.bench import run_bench

    report = run_bench(600 if quick else events_count, quick=quick, variant=variant)
    text = orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()
    click.echo(text)
    if output is not None:
        output.write_text(text + "\n")


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


if __name__ == "__main__":  # pragma: no cover
    main()
