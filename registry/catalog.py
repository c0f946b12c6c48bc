"""The model catalog: every model the registry knows, where it comes from, and whether it is here.

Three kinds of source: ``build://starter`` (made locally by ``llm-shield models build``),
``hf://org/name`` (the seed design's hub models; converting them needs a network), and full
manifest entries with ``https://`` or ``file://`` files and their sha256 (a catalog file of your
own, named by ``--catalog`` or ``LLM_SHIELD_CATALOG``).
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from llm_shield.registry.errors import ShieldError
from llm_shield.registry.manifest import VARIANTS, ManifestError, ModelEntry, entry_from_dict

CATALOG_SCHEMA = "llm-shield.catalog/v1"
CATALOG_ENV = "LLM_SHIELD_CATALOG"


class ModelNotFound(ShieldError):
    exit_code = 2


@dataclass(frozen=True)
class CatalogItem:
    id: str
    version: str
    task: str
    source: str
    license: str
    description: str = ""
    entry: ModelEntry | None = None  # known files and checksums (downloadable sources)

    @property
    def kind(self) -> str:
        if self.source.startswith("build://"):
            return "build"
        if self.source.startswith("hf://"):
            return "hub"
        return "download"

    @property
    def variants(self) -> tuple[str, ...]:
        if self.entry is not None:
            return tuple(self.entry.variants)
        return ("fp32", "int8") if self.kind == "build" else ("fp32", "fp16", "int8")


def _from_summary(data: dict, where: str) -> CatalogItem:
    try:
        return CatalogItem(
            id=str(data["id"]),
            version=str(data["version"]),
            task=str(data["task"]),
            source=str(data["source"]),
            license=str(data.get("license", "")),
            description=str(data.get("description", "")),
        )
    except KeyError as exc:
        raise ManifestError(f"{where}: catalog entry lacks {exc.args[0]!r}") from None


def _from_entry(entry: ModelEntry) -> CatalogItem:
    sources = {f.source for files in entry.variants.values() for f in files}
    return CatalogItem(
        id=entry.id,
        version=entry.version,
        task=entry.task,
        source=sorted(sources)[0] if sources else "",
        license=entry.license,
        description=entry.architecture,
        entry=entry,
    )


def _read(path: Path) -> list[CatalogItem]:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ManifestError(f"catalog file not found: {path}") from None
    except orjson.JSONDecodeError as exc:
        raise ManifestError(f"catalog {path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ManifestError(f"catalog {path}: expected an object with a 'models' list")
    items = []
    for index, model in enumerate(data["models"]):
        where = f"{path}: models[{index}]"
        if isinstance(model, dict) and "variants" in model:
            items.append(_from_entry(entry_from_dict(model, where)))
        elif isinstance(model, dict):
            items.append(_from_summary(model, where))
        else:
            raise ManifestError(f"{where}: expected an object")
    return items


def load_catalog(extra: Sequence[Path] = ()) -> dict[str, CatalogItem]:
    """The packaged catalog, then catalog files from ``LLM_SHIELD_CATALOG`` and ``extra``."""
    packaged = importlib.resources.files("llm_shield.registry").joinpath("catalog.json")
    items = _read(Path(str(packaged)))
    env = os.environ.get(CATALOG_ENV, "")
    files = [Path(p) for p in env.split(os.pathsep) if p] + list(extra)
    for path in files:
        items.extend(_read(path.expanduser()))
    return {item.id: item for item in items}  # later files override earlier ones


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``task/name[@variant]`` -> (id, variant or None)."""
    model_id, _, variant = ref.partition("@")
    if variant and variant not in VARIANTS:
        raise ModelNotFound(
            f"unknown variant {variant!r} in {ref!r} (one of {', '.join(VARIANTS)})"
        )
    return model_id, variant or None


def find(catalog: dict[str, CatalogItem], model_id: str) -> CatalogItem:
    item = catalog.get(model_id)
    if item is None:
        raise ModelNotFound(
            f"unknown model {model_id!r}; `llm-shield models list` shows the catalog"
        )
    return item
