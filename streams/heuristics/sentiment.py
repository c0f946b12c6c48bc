"""Heuristic sentiment scanner: the VADER lexicon (with its negation and intensifier rules).

VADER gives a compound polarity in [-1, 1]; we map it to a negative/neutral/positive distribution
whose arg-max agrees with VADER's own ±0.05 convention, so that ``score`` is the probability of
``label`` and ``risk`` is the probability of ``negative`` (what the policy can act on).
"""

from __future__ import annotations

from collections.abc import Sequence

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from llm_shield.streams.scanner import ScanResult

LABELS = ("negative", "neutral", "positive")
NEUTRAL_BAND = 0.05
# VADER looks every word up by position in the word list, which is quadratic in the text's length
# (64 KiB of words took 10 s). Longer texts are scored in chunks of this many words and the
# compound scores averaged, weighted by words: linear, and the same answer for short texts.
CHUNK_WORDS = 200


def distribution(compound: float) -> dict[str, float]:
    """Map VADER's compound score to three class scores that sum to 1."""
    strength = abs(compound)
    if strength < NEUTRAL_BAND:
        neutral = 0.9 - strength
        leaning = 1.0 - neutral
        positive = leaning * (0.5 + compound / (2 * NEUTRAL_BAND) * 0.5)
        return {"negative": leaning - positive, "neutral": neutral, "positive": positive}
    polar = 0.5 + 0.5 * strength
    rest = 1.0 - polar
    if compound > 0:
        return {"negative": rest * 0.2, "neutral": rest * 0.8, "positive": polar}
    return {"negative": polar, "neutral": rest * 0.8, "positive": rest * 0.2}


class HeuristicSentiment:
    name = "sentiment"

    def __init__(self, *, threshold: float = 0.6) -> None:
        self.threshold = threshold
        self._analyzer = SentimentIntensityAnalyzer()

    def compound(self, text: str) -> float:
        words = text.split()
        if len(words) <= CHUNK_WORDS:
            return self._analyzer.polarity_scores(text)["compound"]
        total = 0.0
        for start in range(0, len(words), CHUNK_WORDS):
            chunk = words[start : start + CHUNK_WORDS]
            total += self._analyzer.polarity_scores(" ".join(chunk))["compound"] * len(chunk)
        return total / len(words)

    def scan(self, text: str) -> ScanResult:
        compound = self.compound(text)
        scores = distribution(compound)
        label = max(LABELS, key=scores.__getitem__)
        return ScanResult(
            score=scores[label],
            label=label,
            risk=scores["negative"],
            method="heuristic",
            scores=scores,
        )

    def scan_batch(self, texts: Sequence[str]) -> list[ScanResult]:
        return [self.scan(text) for text in texts]
