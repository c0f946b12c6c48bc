"""The embedded broker as a service: start, readiness, topic admin, clean stop, no orphans."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llm_shield.streams.broker import EmbeddedBroker, probe_metadata
from llm_shield.streams.errors import EmbeddedBrokerError

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); read its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_start_answers_metadata_and_stop_ends_the_process(tmp_path: Path) -> None:
    broker = EmbeddedBroker(port=0, log_path=tmp_path / "b.log").start()
    pid = broker.pid
    assert pid is not None and alive(pid)
    host, port = broker.bootstrap.split(":")
    assert probe_metadata(host, int(port)) >= 1
    broker.stop()
    assert not alive(pid)
    assert (tmp_path / "b.log").exists()


def test_busy_port_is_a_clear_error(broker: EmbeddedBroker) -> None:
    port = int(broker.bootstrap.rsplit(":", 1)[1])
    with pytest.raises(EmbeddedBrokerError, match="already in use"):
        EmbeddedBroker(port=port).start()


def test_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLM_SHIELD_TANSU_BIN", str(tmp_path / "nope"))
    with pytest.raises(EmbeddedBrokerError, match="not an executable"):
        EmbeddedBroker(port=0).start()


def test_binary_that_exits_at_start_is_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("LLM_SHIELD_TANSU_BIN", str(fake))
    with pytest.raises(EmbeddedBrokerError, match="exited with code 3"):
        EmbeddedBroker(port=0, log_path=tmp_path / "log").start()


def test_broker_dies_with_a_killed_parent(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = textwrap.dedent(
        f"""
        import time
        from llm_shield.streams.broker import EmbeddedBroker
        b = EmbeddedBroker(port=0).start()
        open({str(pid_file)!r}, "w").write(str(b.pid))
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "parent never started the broker"
        time.sleep(0.05)
    broker_pid = int(pid_file.read_text())
    assert alive(broker_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while alive(broker_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(broker_pid), "the broker outlived its parent"
