"""The model manifest: what a model is, how to run it, and the exact files (with sha256) it needs.

One versioned JSON schema for everything the registry knows, whether built locally
(``build://starter``) or fetched. Validated on load; errors name the field that is wrong.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from llm_shield.registry.errors import ShieldError

MANIFEST_SCHEMA = "llm-shield.manifest/v1"
TASKS = ("prompt_injection", "toxicity", "sentiment")
MODEL_TASKS = (*TASKS, "multi_task")
VARIANTS = ("fp32", "fp16", "int8")
INPUT_KINDS = ("token_ids", "text")
POSTPROCESS = ("softmax", "sigmoid", "probabilities")


class ManifestError(ShieldError):
    """A manifest entry is malformed; the message names the field."""

    exit_code = 2


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the variant folder
    sha256: str
    size: int
    source: str  # file://, https:// or build://RECIPE


@dataclass(frozen=True)
class OutputSpec:
    """One task's head in a graph: which output, its labels in order, and how to read it."""

    output: str
    labels: tuple[str, ...]
    postprocess: str
    positive_label: str
    threshold: float
    # Where the build tuned this head for kind=response texts (documents, tool outputs read
    # sentence by sentence): the scanner's default response threshold. None: not tuned.
    response_threshold: float | None = None


@dataclass(frozen=True)
class TokenizerSpec:
    file: str
    max_length: int
    truncation_side: str = "right"


@dataclass(frozen=True)
class ModelEntry:
    id: str  # task/name
    version: str
    task: str
    architecture: str
    input_kind: str
    outputs: dict[str, OutputSpec]
    license: str
    origin: str
    variants: dict[str, tuple[FileEntry, ...]]
    tokenizer: TokenizerSpec | None = None
    recipe: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[1]

    def ref(self, variant: str) -> str:
        """``task/name@version`` plus the variant, as verdicts name the model that scored."""
        return f"{self.id}@{self.version}:{variant}"

    def content_hash(self, variant: str) -> str:
        """One sha256 over a variant's files (names and contents): a model rebuilt under the same
        version gets a new hash, so results cached for the old files are never served for it."""
        digest = hashlib.sha256()
        for item in sorted(self.variants.get(variant, ()), key=lambda f: f.path):
            digest.update(f"{item.path}\0{item.sha256}\0".encode())
        return digest.hexdigest()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema"] = MANIFEST_SCHEMA
        return data


def _need(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ManifestError(f"{where}: missing field {key!r}")
    value = data[key]
    if not isinstance(value, kind):
        raise ManifestError(f"{where}.{key}: expected {getattr(kind, '__name__', kind)}")
    return value


def entry_from_dict(data: dict[str, Any], where: str = "manifest") -> ModelEntry:
    """Validate and build one entry; every error names the offending field."""
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected an object")
    schema = data.get("schema", MANIFEST_SCHEMA)
    if schema != MANIFEST_SCHEMA:
        raise ManifestError(f"{where}.schema: unsupported {schema!r}, expected {MANIFEST_SCHEMA}")
    model_id = _need(data, "id", str, where)
    where = f"{where}[{model_id}]"
    task = _need(data, "task", str, where)
    if task not in MODEL_TASKS:
        raise ManifestError(f"{where}.task: {task!r} is not one of {', '.join(MODEL_TASKS)}")
    if model_id.split("/", 1)[0] != task or "/" not in model_id:
        raise ManifestError(f"{where}.id: must be '{task}/<name>'")
    input_kind = _need(data, "input_kind", str, where)
    if input_kind not in INPUT_KINDS:
        raise ManifestError(f"{where}.input_kind: {input_kind!r} is not one of {INPUT_KINDS}")
    outputs: dict[str, OutputSpec] = {}
    for out_task, spec in _need(data, "outputs", dict, where).items():
        spot = f"{where}.outputs.{out_task}"
        if out_task not in TASKS:
            raise ManifestError(f"{spot}: unknown task")
        if not isinstance(spec, dict):
            raise ManifestError(f"{spot}: expected an object")
        labels = tuple(_need(spec, "labels", list, spot))
        post = _need(spec, "postprocess", str, spot)
        if post not in POSTPROCESS:
            raise ManifestError(f"{spot}.postprocess: {post!r} is not one of {POSTPROCESS}")
        positive = _need(spec, "positive_label", str, spot)
        if positive not in labels:
            raise ManifestError(f"{spot}.positive_label: {positive!r} is not among the labels")
        threshold = float(_need(spec, "threshold", (int, float), spot))
        if not 0.0 <= threshold <= 1.0:
            raise ManifestError(f"{spot}.threshold: must be between 0 and 1")
        response = spec.get("response_threshold")
        if response is not None:
            if isinstance(response, bool) or not isinstance(response, int | float):
                raise ManifestError(f"{spot}.response_threshold: expected a number")
            if not 0.0 <= response <= 1.0:
                raise ManifestError(f"{spot}.response_threshold: must be between 0 and 1")
            response = float(response)
        outputs[out_task] = OutputSpec(
            _need(spec, "output", str, spot), labels, post, positive, threshold, response
        )
    if not outputs:
        raise ManifestError(f"{where}.outputs: at least one task output is required")
    if task != "multi_task" and set(outputs) != {task}:
        raise ManifestError(f"{where}.outputs: a {task} model has exactly one output, {task}")
    variants: dict[str, tuple[FileEntry, ...]] = {}
    for variant, files in _need(data, "variants", dict, where).items():
        spot = f"{where}.variants.{variant}"
        if variant not in VARIANTS:
            raise ManifestError(f"{spot}: unknown variant (one of {', '.join(VARIANTS)})")
        if not isinstance(files, list) or not files:
            raise ManifestError(f"{spot}: expected a non-empty list of files")
        entries = []
        for index, item in enumerate(files):
            fspot = f"{spot}[{index}]"
            if not isinstance(item, dict):
                raise ManifestError(f"{fspot}: expected an object")
            sha = _need(item, "sha256", str, fspot)
            if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
                raise ManifestError(f"{fspot}.sha256: not a hex sha256")
            path = _need(item, "path", str, fspot)
            if path.startswith("/") or ".." in Path(path).parts:
                raise ManifestError(f"{fspot}.path: must stay inside the variant folder")
            entries.append(
                FileEntry(
                    path,
                    sha,
                    int(_need(item, "size", int, fspot)),
                    _need(item, "source", str, fspot),
                )
            )
        variants[variant] = tuple(entries)
    if not variants:
        raise ManifestError(f"{where}.variants: at least one variant is required")
    tokenizer = None
    if input_kind == "token_ids":
        spec = _need(data, "tokenizer", dict, where)
        tokenizer = TokenizerSpec(
            _need(spec, "file", str, f"{where}.tokenizer"),
            int(_need(spec, "max_length", int, f"{where}.tokenizer")),
            str(spec.get("truncation_side", "right")),
        )
    return ModelEntry(
        id=model_id,
        version=str(_need(data, "version", (str, int), where)),
        task=task,
        architecture=_need(data, "architecture", str, where),
        input_kind=input_kind,
        outputs=outputs,
        license=_need(data, "license", str, where),
        origin=_need(data, "origin", str, where),
        variants=variants,
        tokenizer=tokenizer,
        recipe=dict(data.get("recipe") or {}),
        metrics=dict(data.get("metrics") or {}),
    )


def load_entry(path: Path) -> ModelEntry:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ManifestError(f"manifest not found: {path}") from None
    except orjson.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from None
    return entry_from_dict(data, str(path))


def dump_entry(entry: ModelEntry, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(orjson.dumps(entry.to_dict(), option=orjson.OPT_INDENT_2))
    tmp.replace(path)


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
