"""One onnxruntime InferenceSession per model variant, built with explicit SessionOptions.

Loaded lazily on first use so that importing the runtime is cheap; ``preload`` and ``unload`` make
the lifecycle explicit for the worker.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort


@dataclass
class SessionStats:
    loads: int = 0
    load_seconds: float = 0.0
    calls: int = 0
    rows: int = 0
    run_seconds: float = 0.0


OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


# How long an idle intra-op thread spins for the next operator of a run before it sleeps. Measured
# on 2 cores (multi-task graph, batches of 32 rows, 8 interleaved rounds): threads that never spin
# 1.00, 1 us 1.02, 5 us 1.03, 10 us 1.09-1.11, 20 us 1.13, onnxruntime's default 1.12-1.14. The
# default keeps both cores (1.97 busy against 1.76 never spinning) through a run, and the HTTP
# gateway beside the worker in the bench then answered 503 (256 checks in flight) at half load in
# 2 runs of 2, 20 us in 1 of 2, 10 us and no spinning in none of 4.
SPIN_MICROSECONDS = 10


def usable_cores() -> int:
    """The cores this process may run on: a container's cpuset or ``taskset`` limits them, which
    ``os.cpu_count()`` (the machine's) does not see."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    return cores or os.cpu_count() or 1


def run_threads(threads: int, runs: int) -> tuple[int, int]:
    """How a process's model threads are spent: ``(runs at once, intra-op threads per run)``.

    ``threads`` is the budget (0: the cores this process may use) and ``runs`` how many batches
    run side by side (0: one per thread). onnxruntime's intra-op threads split each operator of
    a run, and on a small encoder most operators are too small to split well: on 2 cores (AVX2,
    the bench's 1,500 texts, 4 interleaved rounds) two one-thread runs side by side scored 19%
    more texts/s than one two-thread run, with the same scores. One text alone is a run of one
    row that cannot be split; it takes one thread (6% slower than two, same probe).
    """
    if threads <= 0:
        threads = usable_cores()
    runs = runs if runs > 0 else threads
    return runs, max(1, threads // runs)


def session_options(
    intra_op_threads: int, graph_optimization: str, *, spin_wait: bool = False
) -> ort.SessionOptions:
    """How every model session runs.

    onnxruntime's intra-op threads spin briefly between the operators of a run, so that the next
    operator's work reaches the other thread without a wake-up (a worker on the bench's texts:
    7.5% more events/s than with threads that sleep at once, median of 6 interleaved rounds), and
    sleep when the run ends (``session.force_spinning_stop``): spinning on after every run, a
    worker answering 50 checks/s used 132% of a core; now 23% at 50 events/s, as with no spinning
    at all. ``spin_wait`` lets them spin as long as onnxruntime likes, between runs too, for a
    worker with cores to spare (nothing else on its machine wants them).
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = OPTIMIZATION_LEVELS[graph_optimization]
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    if not spin_wait:
        options.add_session_config_entry(
            "session.intra_op.spin_duration_us", str(SPIN_MICROSECONDS)
        )
        options.add_session_config_entry("session.force_spinning_stop", "1")
    return options


class OnnxSession:
    def __init__(
        self,
        path: Path,
        *,
        intra_op_threads: int = 0,
        graph_optimization: str = "all",
        spin_wait: bool = False,
    ) -> None:
        self.path = path
        self.intra_op_threads = intra_op_threads
        self.spin_wait = spin_wait
        self.graph_optimization = graph_optimization
        self.stats = SessionStats()
        self._session: ort.InferenceSession | None = None
        self._lock = threading.Lock()

    def preload(self) -> OnnxSession:
        with self._lock:
            if self._session is None:
                started = time.perf_counter()
                options = session_options(
                    self.intra_op_threads, self.graph_optimization, spin_wait=self.spin_wait
                )
                self._session = ort.InferenceSession(
                    str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
                )
                self.stats.loads += 1
                self.stats.load_seconds += time.perf_counter() - started
        return self

    def unload(self) -> None:
        with self._lock:
            self._session = None

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.preload()._session.get_inputs()]  # type: ignore[union-attr]

    def run(
        self, feeds: dict[str, np.ndarray], outputs: list[str] | None = None
    ) -> dict[str, np.ndarray]:
        session = self.preload()._session
        assert session is not None
        started = time.perf_counter()
        names = outputs or [o.name for o in session.get_outputs()]
        values = session.run(names, feeds)
        with self._lock:  # runs may be side by side (see run_threads)
            self.stats.calls += 1
            self.stats.rows += len(next(iter(feeds.values())))
            self.stats.run_seconds += time.perf_counter() - started
        return dict(zip(names, values, strict=True))
