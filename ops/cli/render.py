"""Plain lines for people: one line per verdict, and the replay summary.

Machines get JSON (``--json``); these strings are for terminals and may change between versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SHORT_NAMES = {"prompt_injection": "injection", "toxicity": "toxicity", "sentiment": "sentiment"}


def verdict_line(verdict: Mapping[str, Any]) -> str:
    """``evt-1 prompt   BLOCK  risk 0.98  injection 0.98 heuristic ...  0.4 ms``."""
    decision = str(verdict.get("decision", "?"))
    shown = decision.upper() if decision != "allow" else decision
    parts = [
        f"{verdict.get('id', '?')}",
        f"{verdict.get('kind', '?'):<8}",
        f"{shown:<6}",
        f"risk {float(verdict.get('risk_score', 0.0)):.2f}",
    ]
    for name, result in (verdict.get("scanners") or {}).items():
        short = SHORT_NAMES.get(name, name)
        if name == "sentiment":
            parts.append(f"{short} {result.get('label')} {result.get('method')}")
        else:
            parts.append(f"{short} {float(result.get('score', 0.0)):.2f} {result.get('method')}")
    parts.append(f"{float(verdict.get('latency_ms', 0.0)):.1f} ms")
    return "  ".join(parts)


def deadletter_line(record: Mapping[str, Any]) -> str:
    where = record.get("source_topic", "?")
    if record.get("offset") is not None:
        where = f"{where}@{record.get('partition')}:{record.get('offset')}"
    return f"DEAD-LETTER {where}  {record.get('reason')}: {record.get('detail')}"


def summary_line(summary: Mapping[str, Any]) -> str:
    """``allow 9 · flag 0 · block 3 · dead-letter 2 (bad_json 1, missing_text 1) · 812 ev/s``."""
    decisions = summary["decisions"]
    parts = [f"{name} {decisions.get(name, 0):,}" for name in ("allow", "flag", "block")]
    reasons = summary.get("dead_letter_reasons") or {}
    detail = ", ".join(f"{reason} {count:,}" for reason, count in sorted(reasons.items()))
    dead = f"dead-letter {summary['dead_letters']:,}"
    parts.append(f"{dead} ({detail})" if detail else dead)
    flagged = summary.get("flagged_by_scanner") or {}
    if flagged:
        parts.append(
            "flagged by "
            + ", ".join(f"{SHORT_NAMES.get(k, k)} {v:,}" for k, v in sorted(flagged.items()))
        )
    lookups = summary.get("cache_hits", 0) + summary.get("cache_misses", 0)
    if lookups:
        parts.append(f"cache hits {summary['cache_hits'] / lookups:.0%}")
    if summary.get("fallbacks"):
        parts.append(f"heuristic_fallback {summary['fallbacks']:,}")
    parts.append(f"{summary['events_per_s']:,.0f} ev/s")
    return " · ".join(parts)
