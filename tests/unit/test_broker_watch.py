"""The broker watch's rule for "this broker lost its state" (the integration test restarts one)."""

from llm_shield.streams.kafka import BrokerState, _reset_reason


def test_missing_topics_mean_a_reset() -> None:
    reason = _reset_reason(None, BrokerState(["t.verdicts"], {}))
    assert reason is not None and "t.verdicts" in reason


def test_committed_offsets_going_back_or_vanishing_mean_a_reset() -> None:
    before = BrokerState([], {("t.prompts", 0): 120, ("t.prompts", 1): 80})
    assert (
        _reset_reason(before, BrokerState([], {("t.prompts", 0): 121, ("t.prompts", 1): 80}))
        is None
    )
    assert _reset_reason(before, BrokerState([], {("t.prompts", 0): 3, ("t.prompts", 1): 80}))
    assert _reset_reason(before, BrokerState([], {}))  # a new broker has no offsets for the group


def test_first_look_and_a_group_without_commits_say_nothing() -> None:
    assert _reset_reason(None, BrokerState([], {("t.prompts", 0): 5})) is None
    assert _reset_reason(BrokerState([], {}), BrokerState([], {("t.prompts", 0): 0})) is None
