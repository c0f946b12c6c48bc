"""Accuracy reports: precision, recall and F1 of the scanners on labelled JSONL sets.

Run as ``python -m llm_shield.ops.evaluate tests/data``. Each set is one JSON object a line with
``text`` and ``label`` (1/0 for prompt injection and toxicity; negative/neutral/positive for
sentiment). The numbers go into issue notes and, later, the generated model card.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from llm_shield.streams.heuristics import (
    HeuristicPromptInjection,
    HeuristicSentiment,
    HeuristicToxicity,
)
from llm_shield.streams.scanner import Scanner


@dataclass(frozen=True)
class BinaryReport:
    cases: int
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    threshold: float

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        positives = self.true_positives + self.false_negatives
        return self.true_positives / positives if positives else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
        }


def binary_report(labels: Sequence[int], scores: Sequence[float], threshold: float) -> BinaryReport:
    tp = fp = fn = tn = 0
    for label, score in zip(labels, scores, strict=True):
        flagged = score >= threshold
        if flagged and label:
            tp += 1
        elif flagged:
            fp += 1
        elif label:
            fn += 1
        else:
            tn += 1
    return BinaryReport(len(labels), tp, fp, fn, tn, threshold)


def load_cases(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def evaluate_binary(
    scanner: Scanner, cases: Sequence[dict[str, Any]], threshold: float
) -> BinaryReport:
    results = scanner.scan_batch([case["text"] for case in cases])
    return binary_report(
        [int(case["label"]) for case in cases], [r.risk for r in results], threshold
    )


def evaluate_sentiment(scanner: Scanner, cases: Sequence[dict[str, Any]]) -> dict[str, Any]:
    results = scanner.scan_batch([case["text"] for case in cases])
    labels = ("negative", "neutral", "positive")
    confusion = {gold: dict.fromkeys(labels, 0) for gold in labels}
    for case, result in zip(cases, results, strict=True):
        confusion[case["label"]][result.label] += 1
    correct = sum(confusion[label][label] for label in labels)
    per_class = {}
    for label in labels:
        predicted = sum(confusion[gold][label] for gold in labels)
        actual = sum(confusion[label].values())
        per_class[label] = {
            "precision": round(confusion[label][label] / predicted, 3) if predicted else 0.0,
            "recall": round(confusion[label][label] / actual, 3) if actual else 0.0,
        }
    return {
        "cases": len(cases),
        "accuracy": round(correct / len(cases), 3) if cases else 0.0,
        "per_class": per_class,
        "confusion": confusion,
    }


def heuristic_report(data_dir: Path) -> dict[str, Any]:
    """Scores of the three heuristic scanners on the sample sets in ``data_dir``."""
    return {
        "prompt_injection": evaluate_binary(
            HeuristicPromptInjection(), load_cases(data_dir / "prompt_injection.jsonl"), 0.5
        ).to_dict(),
        "toxicity": evaluate_binary(
            HeuristicToxicity(), load_cases(data_dir / "toxicity.jsonl"), 0.5
        ).to_dict(),
        "sentiment": evaluate_sentiment(
            HeuristicSentiment(), load_cases(data_dir / "sentiment.jsonl")
        ),
    }


if __name__ == "__main__":  # pragma: no cover
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data")
    sys.stdout.write(orjson.dumps(heuristic_report(folder), option=orjson.OPT_INDENT_2).decode())
    sys.stdout.write("\n")
