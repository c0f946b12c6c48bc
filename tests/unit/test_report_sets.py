"""The held-out sets kept outside the recipe (so that writing one does not rebuild the models)
reach the model card only through ``OUTSIDE_SETS``: a set that fails to load, lacks one of the
labels or has no title would vanish from the card or break its rendering."""

from __future__ import annotations

import pytest

from llm_shield.ops.evaluate import (
    INJECTION_SETS,
    OUTSIDE_SETS,
    TOXICITY_SETS,
    outside_set,
    set_task,
)
from llm_shield.ops.model_card import SET_TITLES


@pytest.mark.parametrize("name", sorted(OUTSIDE_SETS))
def test_each_outside_set_loads_with_both_labels_a_title_and_a_place_in_the_card(
    name: str,
) -> None:
    examples, cases, kinds = outside_set(name)
    labels = {example.labels[set_task(name)] for example in examples}
    assert labels == {0, 1}
    assert len(examples) == len(cases) == len(kinds) >= 40
    assert set(kinds) <= {"prompt", "response"}
    assert all(case["text"].strip() for case in cases)
    assert name in SET_TITLES
    assert (name in INJECTION_SETS) != (name in TOXICITY_SETS)
