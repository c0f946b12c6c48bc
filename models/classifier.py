"""A manifest entry made runnable: tokenise into windows, batch by length, run, post-process.

``predict`` returns, per task the graph answers, one row of label probabilities per input text,
in input order, and how many windows each text needed. Risky-class tasks (injection, toxicity)
keep their riskiest window; sentiment averages its windows. The multi-task graph answers all
three tasks from one encoder pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from llm_shield.models.postprocess import to_probabilities
from llm_shield.models.session import OnnxSession
from llm_shield.models.tokenizer import TextTokenizer, Window, model_view
from llm_shield.registry.manifest import ModelEntry

_Chunk = tuple[int, int]  # rows [start, end) of a length-sorted batch: one session run
_Scored = tuple[list[int], dict[str, np.ndarray]]  # a run's rows and their probabilities

WINDOW_AGGREGATE = {"prompt_injection": "max", "toxicity": "max", "sentiment": "mean"}


@dataclass(frozen=True)
class Prediction:
    probabilities: dict[str, np.ndarray]  # task -> (texts, labels)
    windows: list[int]
    # task -> per text, the characters of the window that decided a max-aggregated task, when
    # the text was scored in more than one window (None otherwise)
    spans: dict[str, list[tuple[int, int] | None]] = field(default_factory=dict)


def _many_windows(row: np.ndarray, positive: int, windows: int) -> np.ndarray:
    """The riskiest of ``windows`` rows, its odds divided by the number of rows read.

    Every window is another chance for a benign text to score high by accident (a 60-sentence
    document has sixty), while a planted instruction is one window that has to stand out: the
    odds correction keeps a document's false-alarm rate from growing with its length (measured
    on planted and clean READMEs of equal length: recall 0.70 -> 0.77 at 2.4% false positives).
    """
    if windows <= 1 or len(row) != 2:
        return row
    p = float(row[positive])
    corrected = p / (p + (1.0 - p) * windows)
    out = np.array(row, dtype=np.float64)
    out[positive] = corrected
    out[1 - positive] = 1.0 - corrected
    return out


# What one more session run costs, in padded tokens' worth of compute. Chosen on the bench's
# event mix (1,200 events in batches of 8 / 50 / 256, events/s, median of 3): fixed runs of 32
# rows 257 / 404 / 578; this split with 32: 371 / 484 / 581, 64: 360 / 488 / 592, 128: 355 / 485 /
# 596.
CALL_COST_TOKENS = 64


def padding_aware_chunks(lengths: Sequence[int], max_rows: int) -> list[tuple[int, int]]:
    """Split rows sorted by length into runs ``[start, end)`` that minimise the tokens computed.

    Every row of a run is padded to the run's longest, so fixed runs of ``max_rows`` waste most of
    their compute when short and long rows meet (a worker's batch of 50 mixed events: 57% of the
    padded tokens were real). Each run costs ``CALL_COST_TOKENS`` plus rows x longest; an exact
    dynamic programme over the sorted lengths picks the cheapest split. Rows are scored alone
    (per-row quantisation, attention masked), so the split never changes a score.
    """
    count = len(lengths)
    best = [0.0] + [float("inf")] * count
    cut = [0] * (count + 1)
    for end in range(1, count + 1):
        longest = max(lengths[end - 1], 1)
        for start in range(max(0, end - max_rows), end):
            cost = best[start] + CALL_COST_TOKENS + (end - start) * longest
            if cost < best[end]:
                best[end], cut[end] = cost, start
    chunks = []
    end = count
    while end > 0:
        chunks.append((cut[end], end))
        end = cut[end]
    return chunks[::-1]


def spread(
    chunks: list[tuple[int, int]], lengths: Sequence[int], runs: int
) -> list[tuple[int, int]]:
    """``chunks`` for ``runs`` runs side by side, costliest first (a pool of runs taking them
    in this order is the longest-processing-time-first schedule).

    While there are fewer chunks than runs, the costliest chunk of two or more rows is halved:
    a lone batch of short rows would otherwise keep one run busy and leave the others idle.
    Rows are scored alone, so a split never changes a score.
    """

    def cost(chunk: tuple[int, int]) -> int:
        start, end = chunk
        return CALL_COST_TOKENS + (end - start) * max(lengths[end - 1], 1)

    out = list(chunks)
    while len(out) < runs:
        splittable = [c for c in out if c[1] - c[0] >= 2]
        if not splittable:
            break
        start, end = max(splittable, key=cost)
        middle = (start + end) // 2
        out.remove((start, end))
        out += [(start, middle), (middle, end)]
    return sorted(out, key=cost, reverse=True)


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
        sentence_window_tokens: int = 64,
        graph_optimization: str = "all",
        model_file: str = "model.onnx",
        spin_wait: bool = False,
        concurrent_runs: int = 1,
    ) -> None:
        """``intra_op_threads`` is each run's; ``concurrent_runs`` how many batches of one
        call run side by side, on one session (see ``run_threads``)."""
        self.entry = entry
        self.folder = folder
        self.max_batch_size = max_batch_size
        self.concurrent_runs = max(1, concurrent_runs)
        self._pool: ThreadPoolExecutor | None = None
        self.max_windows = max_windows
        self.sentence_window_tokens = sentence_window_tokens
        self.session = OnnxSession(
            folder / model_file,
            intra_op_threads=intra_op_threads,
            graph_optimization=graph_optimization,
            spin_wait=spin_wait,
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

    def run(
        self, texts: Sequence[str], sentence_windows: Sequence[bool] | None = None
    ) -> Prediction:
        """Score ``texts``; where ``sentence_windows`` says so, each sentence of a text is also
        scored on its own (max-aggregated tasks take their riskiest row, whole or sentence)."""
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

        texts = [model_view(text) for text in texts]
        whole = self.tokenizer.spans(texts, self.max_windows)
        if sentence_windows is not None and any(sentence_windows):
            marked = [t if flag else "" for t, flag in zip(texts, sentence_windows, strict=True)]
            sentences = self.tokenizer.sentence_windows(marked, self.sentence_window_tokens)
        else:
            sentences = [[] for _ in texts]
        rows: list[tuple[int, Window, bool]] = [
            (t, window, False) for t, windows in enumerate(whole) for window in windows
        ]
        rows += [(t, window, True) for t, windows in enumerate(sentences) for window in windows]
        row_probs = self._score_rows([window.ids for _, window, _ in rows])
        owners = np.array([t for t, _, _ in rows])
        is_sentence = np.array([s for _, _, s in rows], dtype=bool)
        counts = [len(w) + len(s) for w, s in zip(whole, sentences, strict=True)]
        spans: dict[str, list[tuple[int, int] | None]] = {}
        for task, spec in self.entry.outputs.items():
            if all(count == 1 for count in counts):
                result[task] = row_probs[task][np.argsort(owners, kind="stable")]
                continue
            positive = list(spec.labels).index(spec.positive_label)
            mean = WINDOW_AGGREGATE.get(task, "max") == "mean"
            task_spans: list[tuple[int, int] | None] = []
            for t in range(len(texts)):
                mine = np.flatnonzero(owners == t)
                if mean:  # sentiment: the whole text's windows only
                    mine = mine[~is_sentence[mine]]
                    result[task][t] = row_probs[task][mine].mean(axis=0)
                    continue
                best = mine[int(np.argmax(row_probs[task][mine, positive]))]
                result[task][t] = _many_windows(row_probs[task][best], positive, counts[t])
                window = rows[best][1]
                task_spans.append((window.start, window.end) if counts[t] > 1 else None)
            if not mean:
                spans[task] = task_spans
        return Prediction(result, counts, spans)

    def _score_rows(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        """Run rows of token ids in length-sorted batches; probabilities in row order."""
        assert self.tokenizer is not None
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        out = {
            task: np.zeros((len(rows), len(spec.labels)))
            for task, spec in self.entry.outputs.items()
        }
        wanted = set(self.session.input_names)
        lengths = [len(rows[i]) for i in order]
        chunks = padding_aware_chunks(lengths, self.max_batch_size)

        def score(chunk: _Chunk) -> _Scored:
            batch = order[chunk[0] : chunk[1]]
            feeds = self.tokenizer.pad([rows[i] for i in batch])  # type: ignore[union-attr]
            feeds = {k: v for k, v in feeds.items() if k in wanted}
            return batch, self._run(feeds, len(batch))

        if self.concurrent_runs > 1:
            chunks = spread(chunks, lengths, self.concurrent_runs)
        for batch, values in self._map(score, chunks):
            for task, probabilities in values.items():
                out[task][batch] = probabilities
        return out

    def _map(self, score: Callable[[_Chunk], _Scored], chunks: list[_Chunk]) -> Iterable[_Scored]:
        """``score`` over ``chunks``, in order: side by side where there is more than one run
        to do and more than one run allowed, in this thread otherwise."""
        if len(chunks) < 2 or self.concurrent_runs < 2:
            return map(score, chunks)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self.concurrent_runs, thread_name_prefix="llm-shield-model"
            )
        return self._pool.map(score, chunks)

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.run(texts).probabilities

    def positive_scores(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """P(positive label) per task: what thresholds compare against."""
        probabilities = self.predict(texts)
        return {
            task: probabilities[task][:, list(spec.labels).index(spec.positive_label)]
            for task, spec in self.entry.outputs.items()
        }
