"""The heuristic scanners: pattern and lexicon based, no model files needed.

They answer when a scanner runs in ``heuristic`` mode, prefilter clear cases in ``hybrid`` mode,
and stand in (``heuristic_fallback``) when a model cannot run.
"""

from llm_shield.streams.heuristics.prompt_injection import HeuristicPromptInjection
from llm_shield.streams.heuristics.sentiment import HeuristicSentiment
from llm_shield.streams.heuristics.toxicity import HeuristicToxicity

__all__ = ["HeuristicPromptInjection", "HeuristicSentiment", "HeuristicToxicity"]
