"""The model home: where installed and built models live on disk.

Layout: ``<home>/<task>/<name>/<version>/model.json`` (the manifest entry) and
``<home>/<task>/<name>/<version>/<variant>/`` (its files). ``LLM_SHIELD_HOME`` overrides the default
``~/.cache/llm-shield/models``.
"""

from __future__ import annotations

import os
from pathlib import Path

from llm_shield.registry.manifest import ModelEntry, load_entry


def default_home() -> Path:
    override = os.environ.get("LLM_SHIELD_HOME")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "llm-shield" / "models"


def make_private_dir(path: Path) -> Path:
    """Create ``path`` and every missing parent owner-only (0700): model files and cached
    results decide what the worker trusts, so nobody else may write, or read, them."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue  # another process made it first
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask
    return path


def model_dir(home: Path, model_id: str, version: str) -> Path:
    task, name = model_id.split("/", 1)
    return home / task / name / version


def entry_path(home: Path, model_id: str, version: str) -> Path:
    return model_dir(home, model_id, version) / "model.json"


def variant_dir(home: Path, entry: ModelEntry, variant: str) -> Path:
    return model_dir(home, entry.id, entry.version) / variant


def installed_entries(home: Path) -> list[ModelEntry]:
    """Every model with a manifest entry under ``home`` (files are verified elsewhere)."""
    return [load_entry(path) for path in sorted(home.glob("*/*/*/model.json"))]
