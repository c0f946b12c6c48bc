"""How the heuristic scanners combine independent pieces of evidence into one score."""

from __future__ import annotations

from collections.abc import Iterable


def noisy_or(weights: Iterable[float]) -> float:
    """P(at least one signal is right), treating each weight as an independent probability.

    Two weak hints add up to more than either, and no number of hints ever reaches 1.0.
    """
    remaining = 1.0
    for weight in weights:
        remaining *= 1.0 - weight
    return 1.0 - remaining
