"""What every scanner returns and the batch-first interface they share.

Heuristic scanners (``streams/heuristics``) and, later, the ONNX classifiers (``models/``) both
implement ``Scanner``; the pipeline and the policy only ever see ``ScanResult``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from llm_shield.streams.frozen import evolve, record

METHODS = ("ml", "heuristic", "cache", "heuristic_fallback")


@record
class ScanResult:
    """One scanner's finding on one text.

    ``score`` is the probability of ``label``'s class for sentiment, and of the risky class
    (injection, toxic) otherwise; ``risk`` is what the policy compares across scanners.
    """

    score: float
    label: str
    risk: float
    method: str = "heuristic"
    model: str | None = None
    scores: dict[str, float] | None = None
    matched: tuple[str, ...] = ()
    categories: dict[str, float] | None = None
    windows: int | None = None
    # The threshold this text was judged by, where it is not the scanner's own (a response, a
    # short text), and why a text was flagged where a reader could not tell from the score.
    threshold: float | None = None
    reason: str | None = None
    span: tuple[int, int] | None = None  # characters of the window that scored highest

    def evolve(self, **changes: Any) -> ScanResult:
        """A copy with ``changes`` (``frozen.evolve``: the scanner set adjusts four results
        per event)."""
        return evolve(self, **changes)

    def to_dict(self, *, threshold: float, flagged: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "score": round(self.score, 4),
            "label": self.label,
            "threshold": self.threshold if self.threshold is not None else threshold,
            "flagged": flagged,
            "method": self.method,
        }
        if self.model is not None:
            out["model"] = self.model
        if self.scores is not None:
            out["scores"] = {k: round(v, 4) for k, v in self.scores.items()}
        if self.matched:
            out["matched"] = list(self.matched)
        if self.categories is not None:
            out["categories"] = {k: round(v, 4) for k, v in self.categories.items()}
        if self.windows is not None:
            out["windows"] = self.windows
        if self.span is not None:
            out["span"] = list(self.span)
        if self.reason is not None:
            out["reason"] = self.reason
        return out


class Scanner(Protocol):
    """Scores many texts at once; one text at a time is the cost we exist to avoid."""

    name: str

    def scan_batch(self, texts: Sequence[str]) -> list[ScanResult]: ...
