"""Running the worker: prepare the broker (topics), then run the Faust app until a signal stops it.

``llm-shield worker`` and ``llm-shield dev`` both come through ``run_worker``; ``dev`` wraps it with
the embedded broker. Faust's own worker owns the event loop and the SIGINT/SIGTERM handling.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import faust

from llm_shield.streams.app import OutcomeSink, create_app
from llm_shield.streams.config import Settings
from llm_shield.streams.kafka import ensure_topics, publish_lines
from llm_shield.streams.pipeline import Pipeline

log = logging.getLogger(__name__)


def run_worker(
    settings: Settings,
    *,
    on_outcomes: OutcomeSink | None = None,
    on_ready: Callable[[float, Pipeline], None] | None = None,
    publish_on_ready: Sequence[bytes] | None = None,
    logfile: Path | None = None,
) -> int:
    """Blocks until the worker stops; returns its exit code.

    ``publish_on_ready`` (the ``--demo`` events) is published once the group has its partitions,
    so the demo's verdicts are printed by the very worker that made them.
    """
    began = time.monotonic()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        created = loop.run_until_complete(ensure_topics(settings))
    except BaseException:
        loop.close()
        raise
    if created:
        log.info("created %d topics with %d partitions", len(created), settings.kafka.partitions)

    pipeline = Pipeline(settings)

    async def ready() -> None:
        if on_ready is not None:
            on_ready(time.monotonic() - began, pipeline)
        if publish_on_ready:
            await publish_lines(settings, publish_on_ready)

    on_batch = None
    if settings.metrics_port:
        from llm_shield.streams.metrics import WorkerMetrics

        metrics = WorkerMetrics(pipeline)
        metrics.start(settings.metrics_port, settings.metrics_host)
        on_batch = metrics.observe_batch
    app = create_app(settings, pipeline, on_outcomes=on_outcomes, on_ready=ready, on_batch=on_batch)
    worker = faust.Worker(
        app,
        loop=loop,
        quiet=True,
        redirect_stdouts=False,
        loglevel=settings.log_level.upper(),
        logfile=str(logfile) if logfile else None,
    )
    worker.spinner = None  # its cursor escapes would land in the verdict output
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0  # pragma: no cover - execute_from_commandline always raises SystemExit
