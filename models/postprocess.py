"""Turning raw model outputs into probabilities, as the manifest's ``postprocess`` says."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def to_probabilities(raw: np.ndarray, postprocess: str) -> np.ndarray:
    """Rows of class probabilities in label order."""
    raw = np.asarray(raw, dtype=np.float64)
    if postprocess == "softmax":
        return softmax(raw)
    if postprocess == "sigmoid":
        return sigmoid(raw)
    if postprocess == "probabilities":
        return raw
    raise ValueError(f"unknown postprocess {postprocess!r}")
