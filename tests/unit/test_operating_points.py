"""How the build picks an operating point from a tuning curve (no model: curves made up here)."""

from __future__ import annotations

import numpy as np

from llm_shield.ops.build_models import f1_error, steady_point

GRID = np.round(np.arange(0.30, 0.96, 0.01), 2)


def test_a_flat_top_gives_its_middle_not_its_highest_point() -> None:
    f1 = np.full(len(GRID), 0.90)
    top = (GRID >= 0.40) & (GRID <= 0.60)
    f1[top] = 0.965
    f1[GRID == 0.41] = 0.967  # the single best point, a draw among near-equals
    chosen, plateau = steady_point(GRID, f1, np.ones(len(GRID), dtype=bool), error=0.003)
    assert plateau == (0.40, 0.60)
    assert chosen == 0.50


def test_without_error_the_best_point_is_chosen() -> None:
    f1 = np.linspace(0.8, 0.9, len(GRID))
    f1[GRID == 0.47] = 0.95
    chosen, plateau = steady_point(GRID, f1, np.ones(len(GRID), dtype=bool), error=0.0)
    assert chosen == 0.47 and plateau == (0.47, 0.47)


def test_only_allowed_thresholds_are_candidates() -> None:
    f1 = np.full(len(GRID), 0.95)
    allowed = GRID >= 0.70  # e.g. the false-positive limit holds from 0.70 up
    chosen, plateau = steady_point(GRID, f1, allowed, error=0.001)
    assert plateau == (0.70, 0.95)
    assert 0.70 <= chosen <= 0.95


def test_when_nothing_is_allowed_every_threshold_is_a_candidate() -> None:
    f1 = np.zeros(len(GRID))
    f1[GRID == 0.33] = 0.9
    chosen, _ = steady_point(GRID, f1, np.zeros(len(GRID), dtype=bool), error=0.0)
    assert chosen == 0.33


def test_the_sampling_error_shrinks_with_more_tuning_cases_and_is_reproducible() -> None:
    rng = np.random.default_rng(7)

    def noisy_set(size: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 2, size)
        scores = np.clip(labels * 0.6 + rng.normal(0.2, 0.2, size), 0, 1)
        return labels, scores

    small, large = noisy_set(100), noisy_set(4000)
    assert f1_error([small], 0.5) > 2 * f1_error([large], 0.5) > 0
    assert f1_error([small], 0.5) == f1_error([small], 0.5)
