"""A manifest entry made runnable: tokenise into windows, batch by length, run, post-process.

``predict`` returns, per task the graph answers, one row of label probabilities per input text,
in input order, and how many windows each text needed. Risky-class tasks (injection, toxicity)
keep their riskiest window; sentiment averages its windows. The multi-task graph answers all
three tasks from one encoder pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llm_shield.models.postprocess import to_probabilities
from llm_shield.models.session import OnnxSession
from llm_shield.models.tokenizer import TextTokenizer
from llm_shield.registry.manifest import ModelEntry

WINDOW_AGGREGATE = {"prompt_injection": "max", "toxicity": "max", "sentiment": "mean"}


@dataclass(frozen=True)
class Prediction:
    probabilities: dict[str, np.ndarray]  # task -> (texts, labels)
    windows: list[int]


class OnnxClassifier:
    def __init__(
        self,
        entry: ModelEntry,
        folder: Path,
        *,
        max_batch_size: int = 32,
        intra_op_threads: int = 0,
        overlap_tokens: int = 32,
        max_windows: int = 64,
        graph_optimization: str = "all",
        model_file: str = "model.onnx",
    ) -> None:
        self.entry = entry
        self.folder = folder
        self.max_batch_size = max_batch_size
        self.max_windows = max_windows
        self.session = OnnxSession(
            folder / model_file,
            intra_op_threads=intra_op_threads,
            graph_optimization=graph_optimization,
        )
        self.tokenizer: TextTokenizer | None = None
        if entry.input_kind == "token_ids":
            assert entry.tokenizer is not None
            self.tokenizer = TextTokenizer(
                folder / entry.tokenizer.file,
                max_length=entry.tokenizer.max_length,
                truncation_side=entry.tokenizer.truncation_side,
                overlap_tokens=overlap_tokens,
            )

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.entry.outputs)

    def _run(self, feeds: dict, rows: int) -> dict[str, np.ndarray]:
        names = [spec.output for spec in self.entry.outputs.values()]
        raw = self.session.run(feeds, names)
        out = {}
        for task, spec in self.entry.outputs.items():
            values = np.asarray(raw[spec.output])
            if values.ndim == 1:
                values = values.reshape(rows, -1)
            out[task] = to_probabilities(values, spec.postprocess)
        return out

    def run(self, texts: Sequence[str]) -> Prediction:
        result = {
            task: np.zeros((len(texts), len(spec.labels)), dtype=np.float64)
            for task, spec in self.entry.outputs.items()
        }
        if not texts:
            return Prediction(result, [])
        if self.tokenizer is None:  # string-input graph: the whole text, one row each
            name = self.session.input_names[0]
            for start in range(0, len(texts), self.max_batch_size):
                chunk = list(texts[start : start + self.max_batch_size])
                feeds = {name: np.array(chunk, dtype=object).reshape(-1, 1)}
                for task, values in self._run(feeds, len(chunk)).items():
                    result[task][start : start + len(chunk)] = values
            return Prediction(result, [1] * len(texts))

        windows = self.tokenizer.windows(texts, self.max_windows)
        rows = [(t, ids) for t, text_windows in enumerate(windows) for ids in text_windows]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i][1]))
        row_probs = {
            task: np.zeros((len(rows), len(spec.labels)))
            for task, spec in self.entry.outputs.items()
        }
        wanted = set(self.session.input_names)
        for start in range(0, len(order), self.max_batch_size):
            batch = order[start : start + self.max_batch_size]
            feeds = self.tokenizer.pad([rows[i][1] for i in batch])
            feeds = {k: v for k, v in feeds.items() if k in wanted}
            for task, values in self._run(feeds, len(batch)).items():
                row_probs[task][batch] = values
        owners = np.array([t for t, _ in rows])
        for task, spec in self.entry.outputs.items():
            if all(len(w) == 1 for w in windows):
                result[task] = row_probs[task]
                continue
            positive = list(spec.labels).index(spec.positive_label)
            for t in range(len(texts)):
                mine = row_probs[task][owners == t]
                if WINDOW_AGGREGATE.get(task, "max") == "mean":
                    result[task][t] = mine.mean(axis=0)
                else:
                    result[task][t] = mine[int(np.argmax(mine[:, positive]))]
        return Prediction(result, [len(w) for w in windows])

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.run(texts).probabilities

    def positive_scores(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """P(positive label) per task: what thresholds compare against."""
        probabilities = self.predict(texts)
        return {
            task: probabilities[task][:, list(spec.labels).index(spec.positive_label)]
            for task, spec in self.entry.outputs.items()
        }
