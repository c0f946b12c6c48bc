"""``llm-shield check`` (one text through the running workers) and ``llm-shield serve`` (HTTP).

Both wait for the verdict of their own event through Kafka, the way an application guards a
prompt before it reaches the LLM. ``check`` exits with a status a shell script can branch on.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import click
import orjson

from llm_shield.ops.cli.common import command_settings, configure_logging, settings_options

# Exit statuses of `llm-shield check`, documented in the README for shell scripts.
EXIT_CODES = {"allow": 0, "flag": 10, "block": 11}
EXIT_TIMEOUT = 12


@click.command()
@click.argument("text")
@settings_options
@click.option("--kind", type=click.Choice(["prompt", "response"]), default="prompt")
@click.option("--tenant", default=None, help="Tenant the event belongs to.")
@click.option("--conversation", "conversation_id", default=None, help="Conversation id.")
@click.option(
    "--timeout",
    "timeout_seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds to wait for the verdict [default: inline.timeout_seconds, 5].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as one JSON object.")
def check(
    text: str,
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
    kind: str,
    tenant: str | None,
    conversation_id: str | None,
    timeout_seconds: float | None,
    as_json: bool,
) -> None:
    """Ask the running workers about TEXT (- reads stdin) and wait for its verdict.

    Unlike `scan`, nothing runs locally: the event goes through the broker and shares the
    workers' batches. Exit status: 0 allow, 10 flag, 11 block, 12 no verdict in time; other
    errors as usual (2 bad input, 3 broker).
    """
    from llm_shield.ops.cli.render import verdict_line
    from llm_shield.streams.client import ShieldClient

    settings = command_settings(config_file, broker, assignments)
    if timeout_seconds is not None and timeout_seconds < settings.kafka.connect_timeout_seconds:
        # a script that allows 1 s for the verdict should not wait 15 s for a broker that is down
        settings = command_settings(
            config_file,
            broker,
            assignments,
            **{"kafka.connect_timeout_seconds": max(timeout_seconds, 0.5)},
        )
    configure_logging(settings)
    if text == "-":
        text = sys.stdin.read()

    async def run() -> dict:
        async with ShieldClient(settings, on_timeout="raise") as shield:
            result = await shield.check(
                text,
                kind=kind,
                tenant=tenant,
                conversation_id=conversation_id,
                timeout_seconds=timeout_seconds,
            )
            return result.raw

    verdict = asyncio.run(run())
    click.echo(orjson.dumps(verdict).decode() if as_json else verdict_line(verdict))
    sys.exit(EXIT_CODES.get(verdict.get("decision", ""), 1))


@click.command()
@settings_options
@click.option("--host", default=None, help="Address to bind [default: serve.host, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [default: serve.port, 8080].")
def serve(
    config_file: Path | None,
    broker: str | None,
    assignments: Sequence[str],
    host: str | None,
    port: int | None,
) -> None:
    """HTTP gateway for inline checks: POST /v1/check, POST /v1/check/batch, GET /healthz,
    GET /readyz. Binds 127.0.0.1 unless told otherwise; a bearer token comes only from
    LLM_SHIELD_SERVE_TOKEN or the file named by serve.token_file. Runs until SIGINT/SIGTERM.
    """
    import signal

    from llm_shield.streams.gateway import Gateway

    settings = command_settings(
        config_file, broker, assignments, **{"serve.host": host, "serve.port": port}
    )
    configure_logging(settings)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with Gateway(settings) as gateway:
            if settings.metrics_port:
                from llm_shield.streams.metrics import GatewayMetrics

                gateway.metrics = GatewayMetrics()
                gateway.metrics.start(settings.metrics_port, settings.metrics_host)
            auth = "bearer token required" if settings.serve.token else "no token"
            click.echo(
                f"llm-shield serve: http://{settings.serve.host}:{gateway.port} "
                f"(broker {settings.broker}; {auth}); Ctrl-C stops",
                err=True,
            )
            await stop.wait()
        click.echo("llm-shield serve: stopped.", err=True)

    asyncio.run(run())
