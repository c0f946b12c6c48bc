"""One onnxruntime InferenceSession per model variant, built with explicit SessionOptions.

Loaded lazily on first use so that importing the runtime is cheap; ``preload`` and ``unload`` make
the lifecycle explicit for the worker.
"""

from __future__ import annotations

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
                options = ort.SessionOptions()
                options.graph_optimization_level = OPTIMIZATION_LEVELS[self.graph_optimization]
                options.intra_op_num_threads = self.intra_op_threads
                options.inter_op_num_threads = 1
                if not self.spin_wait:
                    # onnxruntime's threads otherwise spin for a while after every run: at low
                    # load that is most of the worker's CPU (a worker at 50 checks/s: 132% of a
                    # core spinning, 38% without), taken from the thread that feeds the model.
                    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
        self.stats.calls += 1
        self.stats.rows += len(next(iter(feeds.values())))
        self.stats.run_seconds += time.perf_counter() - started
        return dict(zip(names, values, strict=True))
