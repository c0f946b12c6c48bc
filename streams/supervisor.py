"""Several worker processes under one supervisor: ``llm-shield worker --processes N``.

One Python interpreter keeps one core busy, so a bigger machine runs more members of the same
consumer group. The members share nothing but the model files and the disk cache; Kafka splits
the partitions between them. The supervisor forwards SIGINT/SIGTERM, restarts a member that dies
after it was ready, and gives up (stopping the rest) when a member fails before its first start.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

from llm_shield.models.session import usable_cores

log = logging.getLogger(__name__)

MEMBER_ENV = "LLM_SHIELD_WORKER_MEMBER"  # set in each member: its number, 1..N
MEMBER_READY = "llm-shield worker member"  # how a member's ready line starts
EXIT_MEMBER_FAILED_TO_START = 1


def suited_processes(cores: int | None = None) -> int:
    """``--processes auto``: one member per two cores (each gets two onnxruntime threads),
    at least one. See the README's scale figures for why not one per core."""
    cores = cores or usable_cores()
    return max(1, cores // 2)


def threads_per_member(processes: int, cores: int | None = None) -> int:
    cores = cores or usable_cores()
    return max(1, cores // processes)


SUPERVISOR_PID_ENV = "LLM_SHIELD_SUPERVISOR_PID"


def die_with_supervisor() -> None:
    """Called by a member at its start: if its supervisor is SIGKILLed, the member gets SIGTERM
    (Linux's parent-death signal) and stops gracefully instead of running on orphaned.

    Done in the member rather than between fork and exec: the supervisor has threads, and
    running Python in a forked child of a threaded process can deadlock."""
    supervisor = os.environ.get(SUPERVISOR_PID_ENV)
    if not supervisor or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        log.warning("could not ask for a parent-death signal; an orphaned member keeps running")
        return
    if os.getppid() != int(supervisor):  # the supervisor died before we asked
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class Member:
    number: int
    process: subprocess.Popen[str] | None = None
    started_at: float = 0.0
    ready_at: float | None = None
    ever_ready: bool = False
    restarts: int = 0
    restart_at: float | None = None
    backoff_seconds: float = 1.0
    last_ready_line: str = ""
    pump: threading.Thread | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


class Supervisor:
    """Starts ``count`` copies of ``command`` and keeps them running until a signal stops it.

    ``env_for(number)`` gives each member's extra environment. Members' stderr is forwarded
    line by line with a ``[member K]`` prefix; their stdout (``--echo``) goes straight through.
    """

    def __init__(
        self,
        command: Sequence[str],
        count: int,
        *,
        env_for: Callable[[int], Mapping[str, str]],
        on_ready: Callable[[float, Sequence[Member]], None] | None = None,
        grace_seconds: float = 30.0,
        stderr: IO[str] | None = None,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        if count < 1:
            raise ValueError("a supervisor needs at least one member")
        self.command = list(command)
        self.members = [Member(number) for number in range(1, count + 1)]
        self.env_for = env_for
        self.on_ready = on_ready
        self.grace_seconds = grace_seconds
        self.stderr = stderr or sys.stderr
        self.max_backoff_seconds = max_backoff_seconds
        self._lock = threading.Lock()
        self._stop_signal: int | None = None
        self._began = 0.0
        self._announced = False

    # ----------------------------------------------------------------------------- lifecycle

    def run(self, *, handle_signals: bool = True) -> int:
        """Blocks until every member has stopped; the exit code is the worst of theirs.

        ``handle_signals=False`` leaves SIGINT/SIGTERM alone (only the main thread may set
        handlers); ``stop()`` then does what a signal would."""
        self._began = time.monotonic()
        previous = {}
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            for member in self.members:
                self._start(member)
            return self._watch()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Ask every member to stop (what a signal to the supervisor does)."""
        if self._stop_signal is None:
            self._stop_signal = sig

    def _on_signal(self, sig: int, frame: object) -> None:
        self.stop(sig)

    # ------------------------------------------------------------------------------- members

    def _start(self, member: Member) -> None:
        env = {
            **os.environ,
            **self.env_for(member.number),
            MEMBER_ENV: str(member.number),
            SUPERVISOR_PID_ENV: str(os.getpid()),
            "PYTHONUNBUFFERED": "1",
        }
        member.process = subprocess.Popen(
            self.command,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # a terminal's Ctrl-C reaches the supervisor only
        )
        member.started_at = time.monotonic()
        member.ready_at = None
        member.restart_at = None
        member.pump = threading.Thread(target=self._pump, args=(member,), daemon=True)
        member.pump.start()
        self._say(f"member {member.number} started (pid {member.pid})")

    def _pump(self, member: Member) -> None:
        process = member.process
        assert process is not None and process.stderr is not None
        for line in process.stderr:
            if line.startswith(MEMBER_READY):
                with self._lock:
                    member.ready_at = time.monotonic()
                    member.ever_ready = True
                    member.last_ready_line = line.strip()
            self._write(f"[member {member.number}] {line}")

    def _watch(self) -> int:
        worst = 0
        while True:
            if self._stop_signal is not None:
                return max(worst, self._stop_all(self._stop_signal))
            now = time.monotonic()
            self._announce_if_ready()
            for member in self.members:
                process = member.process
                if member.restart_at is not None:
                    if now >= member.restart_at:
                        member.restarts += 1
                        self._start(member)
                    continue
                if process is None or process.poll() is None:
                    continue
                if member.pump is not None:
                    member.pump.join(timeout=2)  # its last lines first
                code = process.returncode
                if not member.ever_ready:
                    self._say(
                        f"member {member.number} (pid {member.pid}) exited with code {code} "
                        "before it was ready; stopping the others"
                    )
                    self._stop_signal = signal.SIGTERM
                    worst = max(worst, code if code and code > 0 else 1)
                    break
                # A member that keeps dying soon after its start waits longer each time.
                if now - member.started_at < 10.0:
                    delay = member.backoff_seconds
                    member.backoff_seconds = min(self.max_backoff_seconds, delay * 2)
                else:
                    delay = member.backoff_seconds = 1.0
                member.restart_at = now + delay
                member.ready_at = None
                self._say(
                    f"member {member.number} (pid {member.pid}) exited with code {code}; "
                    f"restarting it in {delay:.0f} s"
                )
            time.sleep(0.1)

    def _announce_if_ready(self) -> None:
        if self._announced:
            return
        with self._lock:
            ready = all(m.ready_at is not None for m in self.members)
        if ready:
            self._announced = True
            if self.on_ready is not None:
                self.on_ready(time.monotonic() - self._began, self.members)

    def _stop_all(self, sig: int) -> int:
        """Forward the signal, wait out the members' own grace period, then kill what is left."""
        alive = [m for m in self.members if m.process is not None and m.process.poll() is None]
        if alive:
            self._say(f"stopping {len(alive)} members ({signal.Signals(sig).name})")
        for member in alive:
            assert member.process is not None
            member.process.send_signal(sig)
        deadline = time.monotonic() + self.grace_seconds + 5.0
        worst = 0
        for member in self.members:
            if member.process is None:
                continue
            try:
                member.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._say(f"member {member.number} (pid {member.pid}) did not stop; killing it")
                member.process.kill()
                member.process.wait()
            if member.pump is not None:
                member.pump.join(timeout=2)
            code = member.process.returncode
            # a member stopped by the forwarded signal itself counts as a clean stop
            if code and code > 0:
                worst = max(worst, code)
        return worst

    # -------------------------------------------------------------------------------- output

    def _write(self, text: str) -> None:
        with self._lock:
            self.stderr.write(text)
            self.stderr.flush()

    def _say(self, message: str) -> None:
        self._write(f"llm-shield worker: {message}\n")
