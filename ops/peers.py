"""Offline peers, run beside our models on the same held-out sets (``models eval --peers``).

Each peer gets its own virtual environment under the peers folder, installed from PyPI with
pinned versions, and is run as a subprocess by a small script of ours that calls its public API
(``ops/peer_scripts``): nothing of theirs is ever imported by llm-shield, and NanoGuard's pickled
tokenizer is checked against the audited wheel before it is loaded. Scores are cached per peer
and per set of texts, since NanoGuard needs about 0.2 s per text on one core.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from llm_shield.registry.errors import ShieldError


class PeerError(ShieldError):
    """A peer could not be installed or did not score the texts."""

    exit_code = 4


@dataclass(frozen=True)
class Peer:
    name: str
    title: str
    requirements: tuple[tuple[str, ...], ...]  # pip installs, in order (torch before its users)
    script: str  # a file in ops/peer_scripts, or an absolute path
    license: str
    what: str


PEERS = {
    peer.name: peer
    for peer in (
        Peer(
            "securevector",
            "SecureVector Guardian 1.4.0",
            (("securevector-guardian-model==1.4.0",),),
            "securevector_score.py",
            "Apache-2.0",
            "word and char n-gram TF-IDF + logistic regression, pure-Python runtime; windows long "
            "documents; its score is the probability of any of 7 attack classes",
        ),
        Peer(
            "nanoguard",
            "NanoGuard (metatronnanoguard 0.1.0)",
            (("torch==2.13.0",), ("metatronnanoguard==0.1.0",)),
            "nanoguard_score.py",
            "MIT",
            "16.8M-parameter transformer (torch), first 512 tokens only; evaluation tooling only "
            "(its tokenizer is a pickle)",
        ),
    )
}


@dataclass(frozen=True)
class PeerScores:
    scores: list[float]
    flagged: list[bool]
    seconds: float  # wall time of the scoring run (from the cache: the run that filled it)


def _python(folder: Path) -> Path:
    return folder / "bin" / "python"


def ensure_installed(peer: Peer, root: Path) -> Path:
    """The peer's own interpreter, installing it on first use."""
    folder = root / peer.name
    python = _python(folder)
    marker = folder / ".installed"
    if marker.is_file() and python.is_file():
        return python
    print(f"[peers] installing {peer.title} into {folder}", file=sys.stderr, flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    for requirement in peer.requirements:
        result = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *requirement],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            raise PeerError(
                f"could not install {' '.join(requirement)} for {peer.name}: "
                f"{lines[-1] if lines else 'pip gave no reason'}"
            )
    marker.write_text("\n".join(" ".join(r) for r in peer.requirements) + "\n")
    return python


def score(peer: Peer, texts: Sequence[str], root: Path) -> PeerScores:
    """The peer's score and own decision for each text, from the cache when it has them."""
    digest = hashlib.sha256(peer.script.encode())
    for requirement in peer.requirements:
        digest.update(" ".join(requirement).encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
    cache = root / "results" / f"{peer.name}-{digest.hexdigest()[:20]}.json"
    if cache.is_file():
        data = orjson.loads(cache.read_bytes())
        return PeerScores(data["scores"], data["flagged"], data["seconds"])
    python = ensure_installed(peer, root)
    script = Path(peer.script)
    if not script.is_absolute():
        script = Path(__file__).parent / "peer_scripts" / peer.script
    payload = b"".join(orjson.dumps({"text": t}) + b"\n" for t in texts)
    started = time.monotonic()
    result = subprocess.run(
        [str(python), str(script)], input=payload, capture_output=True, check=False
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        raise PeerError(f"{peer.name} failed: {lines[-1] if lines else 'no output'}")
    rows = [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]
    if len(rows) != len(texts):
        raise PeerError(f"{peer.name} answered {len(rows)} of {len(texts)} texts")
    out = PeerScores([float(r["score"]) for r in rows], [bool(r["flagged"]) for r in rows], seconds)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(orjson.dumps(out.__dict__))
    return out
