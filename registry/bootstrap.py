"""Bootstrap: turn a configured model id and variant into verified files the runtime may load.

Called when the worker (or replay, or scan) starts: a missing model is installed when its source
is reachable, a model that cannot be had fails with one line naming the command to run, and the
files are re-verified (size + sha256, cached by mtime so restarts stay fast) before every load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llm_shield.registry.catalog import ModelNotFound, load_catalog
from llm_shield.registry.home import entry_path, model_dir
from llm_shield.registry.install import (
    ChecksumMismatch,
    ModelNotInstalled,
    install,
    installed_variants,
    verify,
)
from llm_shield.registry.manifest import ModelEntry, load_entry


@dataclass(frozen=True)
class ResolvedModel:
    entry: ModelEntry
    variant: str
    folder: Path

    @property
    def ref(self) -> str:
        return self.entry.ref(self.variant)


def _installed_versions(home: Path, model_id: str) -> list[str]:
    base = model_dir(home, model_id, "x").parent
    if not base.is_dir():
        return []
    versions = [p.name for p in base.iterdir() if (p / "model.json").exists()]
    return sorted(versions, key=lambda v: (len(v), v))


def resolve_model(
    home: Path,
    model_id: str,
    variant: str,
    *,
    catalog_files: Sequence[Path] = (),
    install_missing: bool = True,
) -> ResolvedModel:
    catalog = load_catalog(catalog_files)
    item = catalog.get(model_id)
    versions = _installed_versions(home, model_id)
    version = item.version if item is not None else (versions[-1] if versions else None)
    entry = None
    if version is not None and entry_path(home, model_id, version).exists():
        entry = load_entry(entry_path(home, model_id, version))
    if entry is None or variant not in installed_variants(home, entry):
        if item is None:
            raise ModelNotFound(
                f"model {model_id!r} is neither installed nor in the catalog "
                "(`llm-shield models list`)"
            )
        if item.kind == "download" and install_missing:
            entry = install(item, home, [variant])
        elif item.kind == "build":
            raise ModelNotInstalled(
                f"{model_id}@{variant} is not installed: run `llm-shield models build` "
                "(or `make models`)"
            )
        else:
            entry = install(item, home, [variant])  # raises NetworkRequired with the command
    problems = verify(home, entry, [variant], use_cache=True)
    if problems:
        raise ChecksumMismatch(
            f"refusing to load {entry.ref(variant)}: {problems[0]}; reinstall it "
            f"(`llm-shield models remove {model_id}` then fetch or build)"
        )
    return ResolvedModel(entry, variant, model_dir(home, entry.id, entry.version) / variant)
