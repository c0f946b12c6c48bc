"""How the worker sizes the conversation changelog (and input topics it makes) to the input
topics that already exist; the integration tests run it against the broker."""

import logging

import pytest

from llm_shield.streams.config import load_settings
from llm_shield.streams.kafka import input_width
from llm_shield.streams.worker import sized_to_inputs


@pytest.fixture
def settings():
    return load_settings(
        None,
        {"kafka.partitions": "3", "topics.prompts": "t.prompts", "topics.responses": "t.responses"},
        environ={},
    )


def test_no_inputs_yet_means_the_configured_count(settings) -> None:
    assert input_width(settings, {}) == 3
    assert input_width(settings, {"t.verdicts": 12}) == 3  # only the inputs count
    assert sized_to_inputs(settings, {}) is settings


def test_inputs_made_elsewhere_set_the_count(settings) -> None:
    # what a broker that creates topics on first write leaves (Tansu: 4 partitions)
    assert input_width(settings, {"t.prompts": 4}) == 4
    sized = sized_to_inputs(settings, {"t.prompts": 4, "t.responses": 4})
    assert sized.kafka.partitions == 4
    assert sized.kafka.session_timeout_seconds == settings.kafka.session_timeout_seconds
    assert settings.kafka.partitions == 3  # the settings given are left as they were


def test_inputs_that_disagree_take_the_widest_and_say_why_it_matters(settings, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        sized = sized_to_inputs(settings, {"t.prompts": 6, "t.responses": 2})
    assert sized.kafka.partitions == 6
    assert "different partition counts (t.prompts 6, t.responses 2)" in caplog.text
    assert "context is split" in caplog.text


def test_inputs_that_agree_say_nothing_loud(settings, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        sized_to_inputs(settings, {"t.prompts": 4, "t.responses": 4})
    assert not caplog.records
