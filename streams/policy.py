"""The decision policy: per-scanner thresholds and actions turn scan results into a decision.

Pure functions, so that the worker, ``replay`` and ``scan`` decide identically and tests need no
broker. Actions: ``block`` and ``flag`` escalate the decision when the scanner flags; ``ignore``
reports the scanner but leaves the decision and the risk score alone. A scanner whose model could
not run (``heuristic_fallback``) and whose ``fail_mode`` is ``closed`` counts as flagged.
"""

from __future__ import annotations

from collections.abc import Mapping

from llm_shield.streams.config import ScannersSettings
from llm_shield.streams.frozen import record
from llm_shield.streams.scanner import ScanResult

DECISIONS = ("allow", "flag", "block")


@record
class Decision:
    decision: str
    risk_score: float
    flagged: dict[str, bool]


def is_flagged(result: ScanResult, threshold: float) -> bool:
    """At or above the scanner's threshold, or the one the scanner set for this text."""
    return result.risk >= (result.threshold if result.threshold is not None else threshold)


def decide(results: Mapping[str, ScanResult], scanners: ScannersSettings) -> Decision:
    """``block`` beats ``flag`` beats ``allow``; the risk score is the highest counted risk."""
    decision = "allow"
    risk_score = 0.0
    flagged: dict[str, bool] = {}
    for name, result in results.items():
        settings = scanners.get(name)
        hit = is_flagged(result, settings.threshold)
        if result.method == "heuristic_fallback" and settings.fail_mode == "closed":
            hit = True  # fail closed: no model answer is no pass
        flagged[name] = hit
        if settings.action == "ignore":
            continue
        risk_score = max(risk_score, result.risk)
        if hit and settings.action == "block":
            decision = "block"
        elif hit and settings.action == "flag" and decision == "allow":
            decision = "flag"
    return Decision(decision=decision, risk_score=round(risk_score, 4), flagged=flagged)
