"""Running the worker: prepare the broker (topics), then run the Faust app until a signal stops it.

``llm-shield worker`` and ``llm-shield dev`` both come through ``run_worker``; ``dev`` wraps it with
the embedded broker. Faust's own worker owns the event loop and the SIGINT/SIGTERM handling.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import faust

from llm_shield.streams.app import OutcomeSink, create_app
from llm_shield.streams.config import Settings
from llm_shield.streams.conversation import ConversationBook
from llm_shield.streams.errors import BrokerError, DeliveryFailed
from llm_shield.streams.heap import settle_heap
from llm_shield.streams.kafka import (
    OutputGate,
    TopicFollower,
    clean_reply_topics,
    input_width,
    prepare_topics,
    publish_lines,
    topic_partitions,
    watch_broker,
)
from llm_shield.streams.pipeline import Pipeline
from llm_shield.streams.privacy import redact_logs
from llm_shield.streams.stats import WindowedStats
from llm_shield.streams.tenant_policy import PolicyBook

log = logging.getLogger(__name__)

T = TypeVar("T")

EXIT_GRACE_EXCEEDED = 75
EXIT_DELIVERY_FAILED = 3  # as any broker error
# Set by a worker that starts itself over because the broker came back empty; the new process
# clears it and reads its first partitions from their beginning (``Intake.anchor``).
REWIND_ENV = "LLM_SHIELD_REWIND_FIRST_ASSIGNMENT"


class QuietRepeats(logging.Filter):
    """While a broker is down aiokafka logs the same errors ten times a second; a person needs
    them once. Each aiokafka message is let through at most once per ``window`` seconds."""

    def __init__(self, window: float = 30.0) -> None:
        super().__init__()
        self.window = window
        self.last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka"):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        if now - self.last.get(key, -self.window) < self.window:
            return False
        self.last[key] = now
        return True


class GracefulWorker(faust.Worker):
    """faust's worker with a bound on how long a stop may take.

    A signal starts the normal stop (the batch in flight is finished, delivered and committed);
    if that is not done within the grace period (a broker that stopped answering, say), the
    process exits with one clear line instead of hanging.
    """

    def __init__(self, *args: Any, grace_seconds: float, redact: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.grace_seconds = grace_seconds
        self.redact = redact

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        if self.redact:
            redact_logs()
        if level > logging.DEBUG:
            for handler in logging.getLogger().handlers:
                handler.addFilter(QuietRepeats())

    def _schedule_shutdown(self, sig: Any) -> None:
        if not self._signal_stop_time:
            timer = threading.Timer(self.grace_seconds, self._give_up)
            timer.daemon = True
            timer.start()
        super()._schedule_shutdown(sig)

    def stop_for_restart(self) -> None:
        self._schedule_shutdown(signal.SIGTERM)

    def _give_up(self) -> None:
        log.error(
            "stop did not finish within %.0f s (kafka.shutdown_grace_seconds); exiting now, "
            "uncommitted events will be scanned again",
            self.grace_seconds,
        )
        logging.shutdown()
        os._exit(EXIT_GRACE_EXCEEDED)


def sized_to_inputs(settings: Settings, counts: dict[str, int]) -> Settings:
    """``settings`` with ``kafka.partitions`` set to the input topics' partition count, which
    the conversation changelog and any input topic made later must share (see
    ``input_width``; seen in CI: the test's producer made the prompts topic with Tansu's 4
    partitions on a broker that came back empty and the worker made the changelog with 3, so
    every batch holding a conversation of partition 3 was refused, failed and was scanned
    again after a restart, over and over)."""
    width = input_width(settings, counts)
    inputs = {topic: counts[topic] for topic in settings.input_topics if topic in counts}
    if len(set(inputs.values())) > 1:
        log.warning(
            "the input topics have different partition counts (%s): a conversation's prompts "
            "and responses land on partitions numbered differently, so with several workers "
            "its context is split between them; give them the same count (the conversation "
            "changelog follows the widest, %d)",
            ", ".join(f"{topic} {count}" for topic, count in inputs.items()),
            width,
        )
    if width == settings.kafka.partitions:
        return settings
    log.info(
        "the input topics have %d partitions (kafka.partitions is %d); the conversation "
        "changelog follows the inputs",
        width,
        settings.kafka.partitions,
    )
    return dataclasses.replace(
        settings, kafka=dataclasses.replace(settings.kafka, partitions=width)
    )


async def check_changelog(settings: Settings, app: faust.App) -> None:
    """A conversation changelog made earlier with fewer partitions than the inputs cannot hold
    the states of the partitions beyond its own: stop with what to do rather than let those
    partitions' batches wait for a partition that does not exist."""
    changelog = app.tables["conversations"].changelog_topic_name
    count = (await topic_partitions(settings, [changelog])).get(changelog)
    if count is not None and count < settings.kafka.partitions:
        raise BrokerError(
            f"the conversation changelog {changelog} has {count} partitions but the input "
            f"topics have {settings.kafka.partitions}: the states of input partitions "
            f"{count} and up have nowhere to go. Delete the changelog (the worker makes it "
            "again; conversations start over) or give the input topics "
            f"{count} partitions"
        )


def restart_process(rewind: bool = False) -> None:
    """Start this command over in the same process (same pid, same pipes, models reloaded).

    Used after a graceful stop when the broker came back without our topics and group: its fresh
    state and faust's bookkeeping (read offsets, generation) no longer agree, and a clean start
    is the one recovery that is always right. Nothing is lost: what was not committed is read
    again, and with ``rewind`` (the broker restarted empty) the new process reads the partitions
    of its first assignment from their beginning, since the offsets committed since the restart
    may be past records the old process never scanned.
    """
    if rewind:
        os.environ[REWIND_ENV] = "1"
    logging.shutdown()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606 - our own argv


def run_worker(
    settings: Settings,
    *,
    on_outcomes: OutcomeSink | None = None,
    on_ready: Callable[[float, Pipeline], None] | None = None,
    publish_on_ready: Sequence[bytes] | None = None,
    logfile: Path | None = None,
    restart_on_broker_reset: bool = False,
) -> int:
    """Blocks until the worker stops; returns its exit code.

    ``publish_on_ready`` (the ``--demo`` events) is published once the group has its partitions,
    so the demo's verdicts are printed by the very worker that made them.
    """
    began = time.monotonic()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def before_start(step: Awaitable[T]) -> T:
        """A step before faust owns the loop: on failure the loop is closed, not leaked."""
        try:
            return loop.run_until_complete(step)
        except BaseException:
            loop.close()
            raise

    created, counts = before_start(prepare_topics(settings))
    settings = sized_to_inputs(settings, counts)
    if created:
        log.info(
            "created %d topics (inputs with %d partitions)", len(created), settings.kafka.partitions
        )

    policies = follower = None
    if settings.policies.enabled:
        policies = PolicyBook(settings)
        follower = TopicFollower(
            settings,
            settings.topics.policies,
            policies.apply,
            wait_ms=settings.policies.follow_wait_ms,
        )
    conversations = (
        ConversationBook(settings.conversations) if settings.conversations.enabled else None
    )
    windows = WindowedStats(settings.stats.window_seconds) if settings.stats.enabled else None
    pipeline = Pipeline(settings, policies=policies, conversations=conversations, windows=windows)

    restarting = rewind = False
    # Outputs wait while the broker may not be the one the worker was using; only where the
    # worker starts over after a reset (see ``OutputGate``).
    gate = OutputGate() if restart_on_broker_reset else None

    def broker_reset(reason: str) -> None:
        nonlocal restarting, rewind
        if restart_on_broker_reset and not restarting:
            restarting = rewind = True
            log.warning("the broker lost its state (%s); restarting the worker", reason)
            # A graceful stop first: leave the group (no zombie member for the new process to
            # wait out), finish and commit what is in flight; then start over.
            worker.stop_for_restart()

    failed = False

    def delivery_failed(exc: DeliveryFailed) -> None:
        """An agent whose batch could not be delivered stops consuming: the worker starts over
        (``llm-shield worker``) or stops with an error (``dev``), never idles on. The batch was
        not acked, so it is scanned again from the last committed offset."""
        nonlocal restarting, failed
        if failed or restarting:
            return
        failed = True
        if restart_on_broker_reset:
            restarting = True
            log.error("%s; restarting the worker (uncommitted events are scanned again)", exc)
        else:
            log.error("%s; stopping the worker (uncommitted events are scanned again)", exc)
        worker.stop_for_restart()

    async def ready() -> None:
        settle_heap()  # the models are loaded and the group joined: what stays is in memory
        if on_ready is not None:
            on_ready(time.monotonic() - began, pipeline)
        if settings.kafka.watch_interval_seconds:
            watcher = asyncio.ensure_future(
                watch_broker(settings, broker_reset, settings.kafka.watch_interval_seconds, gate)
            )
            app._llm_shield_watcher = watcher  # keep a reference for the loop's lifetime
        janitor = asyncio.ensure_future(
            clean_reply_topics(settings, min(600.0, settings.inline.stale_reply_topic_seconds / 4))
        )
        app._llm_shield_janitor = janitor
        if follower is not None:
            app._llm_shield_policies = asyncio.ensure_future(follower.follow())
        if publish_on_ready:
            await publish_lines(settings, publish_on_ready)

    on_batch = on_reply_refused = None
    if settings.metrics_port:
        from llm_shield.streams.metrics import WorkerMetrics

        metrics = WorkerMetrics(pipeline)
        metrics.start(settings.metrics_port, settings.metrics_host)
        on_batch = metrics.observe_batch
        on_reply_refused = metrics.reply_refused
    app = create_app(
        settings,
        pipeline,
        on_outcomes=on_outcomes,
        on_ready=ready,
        on_batch=on_batch,
        on_reply_refused=on_reply_refused,
        on_delivery_failed=delivery_failed,
        output_gate=gate,
    )
    if conversations is not None:
        before_start(check_changelog(settings, app))
    if os.environ.pop(REWIND_ENV, None):
        app._llm_shield_intake.rewind_next_anchor = True
    if follower is not None:
        # Every policy on the topic is in force before the first event is scanned.
        before_start(follower.start())
        if policies is not None and policies.snapshot():
            log.info("%d tenant policies in force", len(policies.snapshot()))

        @app.on_before_shutdown.connect
        async def _stop_follower(sender: Any, **kwargs: Any) -> None:
            task = getattr(app, "_llm_shield_policies", None)
            if task is not None:
                task.cancel()
            await follower.stop()

    worker = GracefulWorker(
        app,
        grace_seconds=settings.kafka.shutdown_grace_seconds,
        redact=settings.input.redact,
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
        if restarting:
            restart_process(rewind=rewind)
        if failed:
            return EXIT_DELIVERY_FAILED
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0  # pragma: no cover - execute_from_commandline always raises SystemExit
