"""Post-processing from the manifest: softmax, sigmoid, pass-through."""

import numpy as np
import pytest

from llm_shield.models.postprocess import to_probabilities
from llm_shield.ops.evaluate import roc_auc


def test_softmax_rows_sum_to_one_and_are_stable() -> None:
    probabilities = to_probabilities(np.array([[1000.0, 1001.0], [0.0, 0.0]]), "softmax")
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert np.allclose(probabilities[1], [0.5, 0.5])
    assert probabilities[0, 1] > probabilities[0, 0]


def test_binary_zero_logit_softmax_is_sigmoid() -> None:
    z = np.array([-2.0, 0.0, 3.0])
    two = to_probabilities(np.stack([np.zeros_like(z), z], axis=1), "softmax")[:, 1]
    assert np.allclose(two, to_probabilities(z, "sigmoid"))


def test_unknown_postprocess_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        to_probabilities(np.zeros((1, 2)), "tanh")


def test_roc_auc_matches_hand_counts() -> None:
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
