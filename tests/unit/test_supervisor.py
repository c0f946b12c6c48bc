"""The supervisor of ``worker --processes N``, with small Python programs as members.

The real worker under the supervisor is tested in tests/integration/test_processes.py; here the
members are scripts that say they are ready, record the signal they got, and can be killed.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from llm_shield.streams.supervisor import (
    MEMBER_ENV,
    MEMBER_READY,
    Supervisor,
    suited_processes,
    threads_per_member,
)

MEMBER = f"""
import os, signal, sys, time
folder = sys.argv[1]
number = os.environ["{MEMBER_ENV}"]
def record(name, text):
    # written whole, then renamed: the test polls for these files and reads them at once
    temporary = os.path.join(folder, f".{{name}}")
    with open(temporary, "w") as out:
        out.write(text)
    os.replace(temporary, os.path.join(folder, name))
def stop(sig, frame):
    record(f"signal-{{os.getpid()}}", str(sig))
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
record(f"env-{{os.getpid()}}", os.environ["THREADS"])
print("{MEMBER_READY} " + number + ": up", file=sys.stderr, flush=True)
while True:
    time.sleep(0.05)
"""


def wait_until(predicate, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_auto_is_one_member_per_two_cores_and_threads_are_split() -> None:
    assert suited_processes(1) == 1
    assert suited_processes(2) == 1
    assert suited_processes(16) == 8
    assert threads_per_member(2, 2) == 1
    assert threads_per_member(3, 16) == 5


def test_cores_are_those_the_process_may_use_not_the_machines(monkeypatch) -> None:
    """In a container limited to a cpuset (or under taskset) the machine has more cores than
    the worker may use: members and threads follow the cpuset."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert suited_processes() == 2
    assert threads_per_member(2) == 2


def test_members_start_a_killed_one_is_restarted_and_a_signal_is_forwarded(
    tmp_path: Path,
) -> None:
    script = tmp_path / "member.py"
    script.write_text(MEMBER)
    out = io.StringIO()
    ready: list[float] = []
    supervisor = Supervisor(
        [sys.executable, str(script), str(tmp_path)],
        2,
        env_for=lambda number: {"THREADS": str(10 + number)},
        on_ready=lambda seconds, members: ready.append(seconds),
        grace_seconds=5,
        stderr=out,
    )
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(supervisor.run(handle_signals=False)))
    runner.start()
    try:
        wait_until(lambda: bool(ready))
        first, second = (m.pid for m in supervisor.members)
        assert (tmp_path / f"env-{first}").read_text() == "11"  # each its own environment
        assert (tmp_path / f"env-{second}").read_text() == "12"
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: supervisor.members[0].restarts == 1)
        wait_until(lambda: supervisor.members[0].ready_at is not None)
        restarted = supervisor.members[0].pid
        assert restarted != first
        assert f"member 1 (pid {first}) exited with code -9; restarting" in out.getvalue()
    finally:
        supervisor.stop(signal.SIGTERM)
        runner.join(timeout=30)
    assert result == [0]
    for pid in (restarted, second):  # both live members got the forwarded SIGTERM and exited
        assert (tmp_path / f"signal-{pid}").read_text() == str(int(signal.SIGTERM))
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not (tmp_path / f"signal-{first}").exists()  # SIGKILL runs no handler
    assert f"[member 2] {MEMBER_READY} 2: up" in out.getvalue()
    assert len(ready) == 1  # the ready line is printed once, not again after a restart


def test_members_of_a_supervisor_killed_with_sigkill_get_sigterm(tmp_path: Path) -> None:
    """No orphans: each member asks for a parent-death signal at its start (Linux)."""
    member = tmp_path / "member.py"
    member.write_text(
        MEMBER.replace(
            "folder = sys.argv[1]",
            "folder = sys.argv[1]\n"
            "from llm_shield.streams.supervisor import die_with_supervisor\n"
            "die_with_supervisor()",
        )
    )
    runner = tmp_path / "supervisor.py"
    runner.write_text(
        "import sys\n"
        "from llm_shield.streams.supervisor import Supervisor\n"
        f"Supervisor([sys.executable, {str(member)!r}, {str(tmp_path)!r}], 2,\n"
        "           env_for=lambda n: {'THREADS': '1'}).run()\n"
    )
    supervisor = subprocess.Popen([sys.executable, str(runner)], stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(list(tmp_path.glob("env-*"))) == 2)
        time.sleep(0.5)  # past the member's prctl call
    finally:
        supervisor.kill()
        supervisor.wait()
    wait_until(lambda: len(list(tmp_path.glob("signal-*"))) == 2)
    for path in tmp_path.glob("signal-*"):
        assert path.read_text() == str(int(signal.SIGTERM))


def test_a_member_that_fails_before_it_is_ready_stops_them_all(tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("import sys; print('no broker', file=sys.stderr); sys.exit(3)")
    out = io.StringIO()
    supervisor = Supervisor(
        [sys.executable, str(script)], 2, env_for=lambda n: {}, grace_seconds=2, stderr=out
    )
    assert supervisor.run(handle_signals=False) == 3
    assert "no broker" in out.getvalue()
    assert "before it was ready; stopping the others" in out.getvalue()
    assert all(m.restarts == 0 for m in supervisor.members)


def test_a_supervisor_needs_a_member() -> None:
    with pytest.raises(ValueError):
        Supervisor(["true"], 0, env_for=lambda n: {})
