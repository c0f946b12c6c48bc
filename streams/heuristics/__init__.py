"""The heuristic scanners: pattern and lexicon based, no model files needed.

They answer when a scanner runs in ``heuristic`` mode, prefilter clear cases in ``hybrid`` mode,
and stand in (``heuristic_fallback``) when a model cannot run.
"""

import hashlib
from pathlib import Path

from llm_shield.streams.heuristics.prompt_injection import HeuristicPromptInjection
from llm_shield.streams.heuristics.sentiment import HeuristicSentiment
from llm_shield.streams.heuristics.toxicity import HeuristicToxicity

__all__ = ["VERSION", "HeuristicPromptInjection", "HeuristicSentiment", "HeuristicToxicity"]


def _source_hash() -> str:
    """Changes whenever a pattern or lexicon file here changes, so cached results of an older
    version are never served."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


VERSION = _source_hash()
