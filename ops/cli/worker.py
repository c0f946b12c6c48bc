"""``llm-shield worker`` (against the configured brokers) and ``llm-shield dev`` (own broker)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import click

from llm_shield.ops.cli.common import (
    command_settings,
    configure_logging,
    echo_outcomes,
    scanner_modes,
    settings_options,
)
from llm_shield.streams.config import load_settings, parse_assignment
from llm_shield.streams.errors import ConfigError


def _processes(value: str) -> int:
    from llm_shield.streams.supervisor import suited_processes

    if value == "auto":
        return suited_processes()
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise ConfigError(f"--processes: {value!r} is not a number of processes >= 1 or auto")
    return count


def _member_args(
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
    echo: bool,
    as_json: bool,
) -> list[str]:
    """The worker command each member runs: this one's options, one process each."""
    args = ["--processes", "1", "--echo" if echo else "--no-echo"]
    if as_json:
        args.append("--json")
    if config_file is not None:
        args += ["--config", str(config_file)]
    if broker:
        args += ["--broker", broker]
    for assignment in assignments:
        args += ["--set", assignment]
    return args


@click.command()
@settings_options
@click.option("--echo/--no-echo", default=False, help="Print each verdict as it is produced.")
@click.option("--json", "as_json", is_flag=True, help="With --echo: JSON lines instead of text.")
@click.option(
    "--processes",
    "-p",
    default="auto",
    metavar="N|auto",
    show_default=True,
    help="Run N worker processes (members of one consumer group) under a supervisor that "
    "forwards signals and restarts a member that dies; auto = one per two cores (1 on a "
    "2-core machine). onnxruntime "
    "threads are split between them; metrics_port P becomes P, P+1, ... per member.",
)
def worker(
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
    echo: bool,
    as_json: bool,
    processes: str,
) -> None:
    """Run the worker against the configured Kafka brokers until SIGINT/SIGTERM.

    To scale out, start more workers with the same group_id (or --processes N on one machine):
    Kafka splits the input partitions between them, so keep kafka.partitions >= the number of
    workers.
    """
    settings = command_settings(config_file, broker, assignments)
    count = _processes(processes)
    if count > 1:
        member = _member_args(config_file, broker, assignments, echo, as_json)
        sys.exit(_supervise(settings, count, member))
    from llm_shield.streams.supervisor import MEMBER_ENV, MEMBER_READY, die_with_supervisor
    from llm_shield.streams.worker import run_worker

    configure_logging(settings)
    member = os.environ.get(MEMBER_ENV)
    if member:
        die_with_supervisor()

    def ready(seconds: float, pipeline: Any) -> None:
        if member:  # the supervisor prints the one "ready in" line, once all are up
            click.echo(
                f"{MEMBER_READY} {member}: pid {os.getpid()}, up after {seconds:.1f} s; "
                f"scanners: {scanner_modes(pipeline)}",
                err=True,
            )
            return
        click.echo(
            f"llm-shield worker: broker {settings.broker}, group {settings.group_id}, "
            f"ready in {seconds:.1f} s; scanners: {scanner_modes(pipeline)}",
            err=True,
        )

    code = run_worker(
        settings,
        on_outcomes=echo_outcomes(as_json) if echo else None,
        on_ready=ready,
        restart_on_broker_reset=True,
    )
    sys.exit(code)


def _supervise(settings: Any, count: int, member_args: Sequence[str]) -> int:
    import asyncio

    from llm_shield.streams.config import env_name
    from llm_shield.streams.kafka import ensure_topics
    from llm_shield.streams.supervisor import Member, Supervisor, threads_per_member

    configure_logging(settings)
    # Once here rather than N times at once: an unreachable broker is one line, not N.
    asyncio.run(ensure_topics(settings))

    threads = settings.models.intra_op_threads or threads_per_member(count)

    def env_for(number: int) -> dict[str, str]:
        env = {env_name("models.intra_op_threads"): str(threads)}
        if settings.metrics_port:
            env[env_name("metrics_port")] = str(settings.metrics_port + number - 1)
        return env

    def ready(seconds: float, members: Sequence[Member]) -> None:
        scanners = members[0].last_ready_line.rpartition("scanners: ")[2]
        pids = ", ".join(str(m.pid) for m in members)
        click.echo(
            f"llm-shield worker: {count} processes (pids {pids}; {threads} onnxruntime threads "
            f"each), broker {settings.broker}, group {settings.group_id}, ready in "
            f"{seconds:.1f} s; scanners: {scanners}",
            err=True,
        )

    supervisor = Supervisor(
        [sys.executable, "-m", "llm_shield.ops.cli", "worker", *member_args],
        count,
        env_for=env_for,
        on_ready=ready,
        grace_seconds=settings.kafka.shutdown_grace_seconds,
    )
    return supervisor.run()


def demo_events() -> list[bytes]:
    """The bundled example events that ``dev --demo`` publishes."""
    text = resources.files("llm_shield.streams").joinpath("examples", "events.jsonl").read_bytes()
    return [line for line in text.splitlines() if line.strip()]


@click.command()
@settings_options
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
    base = command_settings(config_file, None, assignments)
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
        configure_logging(settings)

        def ready(seconds: float, pipeline: Any) -> None:
            click.echo(
                f"llm-shield dev: broker {embedded.bootstrap} (embedded, in memory), "
                f"worker ready in {seconds:.1f} s",
                err=True,
            )
            click.echo(f"  scanners: {scanner_modes(pipeline)}", err=True)
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
            on_outcomes=None if quiet else echo_outcomes(as_json),
            on_ready=ready,
            publish_on_ready=demo_events() if demo else None,
        )
    finally:
        embedded.stop()
    click.echo("llm-shield dev: worker stopped; broker stopped.", err=True)
    sys.exit(code)
