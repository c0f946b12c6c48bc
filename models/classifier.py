"""A manifest entry made runnable: tokenise, batch by length, run the session, post-process.

``predict`` returns, per task the graph answers, one row of label probabilities per input text, in
input order. The multi-task graph answers all three tasks from one encoder pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llm_shield.models.postprocess import to_probabilities
from llm_shield.models.session import OnnxSession
from llm_shield.models.tokenizer import TextTokenizer
from llm_shield.registry.manifest import ModelEntry


class OnnxClassifier:
    def __init__(
        self,
        entry: ModelEntry,
        folder: Path,
        *,
        max_batch_size: int = 32,
        intra_op_threads: int = 0,
        model_file: str = "model.onnx",
    ) -> None:
        self.entry = entry
        self.folder = folder
        self.max_batch_size = max_batch_size
        self.session = OnnxSession(folder / model_file, intra_op_threads=intra_op_threads)
        self.tokenizer: TextTokenizer | None = None
        if entry.input_kind == "token_ids":
            assert entry.tokenizer is not None
            self.tokenizer = TextTokenizer(
                folder / entry.tokenizer.file,
                max_length=entry.tokenizer.max_length,
                truncation_side=entry.tokenizer.truncation_side,
            )

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.entry.outputs)

    def _batches(self, texts: Sequence[str]) -> list[list[int]]:
        """Indices cut into batches of similar token length, so padding stays small."""
        if self.tokenizer is None:
            order = list(range(len(texts)))
        else:
            lengths = self.tokenizer.lengths(texts)
            order = sorted(range(len(texts)), key=lengths.__getitem__)
        size = self.max_batch_size
        return [order[i : i + size] for i in range(0, len(order), size)]

    def _feeds(self, texts: list[str]) -> dict[str, np.ndarray]:
        if self.tokenizer is not None:
            feeds = self.tokenizer.encode(texts)
            wanted = set(self.session.input_names)
            return {k: v for k, v in feeds.items() if k in wanted}
        name = self.session.input_names[0]
        return {name: np.array(texts, dtype=object).reshape(-1, 1)}

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        outputs = {task: spec.output for task, spec in self.entry.outputs.items()}
        result = {
            task: np.zeros((len(texts), len(spec.labels)), dtype=np.float64)
            for task, spec in self.entry.outputs.items()
        }
        for batch in self._batches(texts):
            raw = self.session.run(self._feeds([texts[i] for i in batch]), list(outputs.values()))
            for task, spec in self.entry.outputs.items():
                values = np.asarray(raw[spec.output])
                if values.ndim == 1:
                    values = values.reshape(len(batch), -1)
                result[task][batch] = to_probabilities(values, spec.postprocess)
        return result

    def positive_scores(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """P(positive label) per task: what thresholds compare against."""
        probabilities = self.predict(texts)
        return {
            task: probabilities[task][:, list(spec.labels).index(spec.positive_label)]
            for task, spec in self.entry.outputs.items()
        }
