"""Settings: defaults < TOML < environment < flags, and one clear error per bad value."""

from pathlib import Path

import pytest

from llm_shield.streams.config import (
    Settings,
    env_name,
    load_settings,
    parse_assignment,
    setting_names,
    shown_value,
)
from llm_shield.streams.errors import ConfigError


def test_defaults_work_on_a_laptop() -> None:
    settings = load_settings(environ={})
    assert settings.broker == "127.0.0.1:9092"
    assert settings.topics.prompts == "llm-shield.prompts"
    assert settings.topics.deadletter == "llm-shield.deadletter"
    assert settings.input.max_event_bytes == 64 * 1024
    assert settings.scanners.prompt_injection.action == "block"


def test_layers_override_in_order(tmp_path: Path) -> None:
    config = tmp_path / "shield.toml"
    config.write_text(
        'broker = "toml:1"\ngroup_id = "from-toml"\n'
        "[scanners.toxicity]\nthreshold = 0.7\n[batching]\nmax_batch_size = 8\n"
    )
    env = {"LLM_SHIELD_BROKER": "env:2", "LLM_SHIELD_BATCHING_MAX_BATCH_SIZE": "16"}
    settings = load_settings(config, {"broker": "flag:3"}, environ=env)
    assert settings.broker == "flag:3"  # flag beats env beats toml
    assert settings.batching.max_batch_size == 16  # env beats toml
    assert settings.group_id == "from-toml"
    assert settings.scanners.toxicity.threshold == 0.7
    assert settings.scanners.prompt_injection.threshold == 0.5  # untouched sibling keeps default


def test_flag_not_given_does_not_mask_environment() -> None:
    settings = load_settings(None, {"broker": None}, environ={"LLM_SHIELD_BROKER": "kafka:9093"})
    assert settings.broker == "kafka:9093"


def test_every_setting_has_an_env_name() -> None:
    names = setting_names()
    assert env_name("scanners.toxicity.threshold") == "LLM_SHIELD_SCANNERS_TOXICITY_THRESHOLD"
    assert len({env_name(n) for n in names}) == len(names)


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('group_id = "g2"\n')
    assert load_settings(environ={"LLM_SHIELD_CONFIG": str(config)}).group_id == "g2"


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"scanners.toxicity.threshold": "1.5"}, "scanners.toxicity.threshold"),
        ({"scanners.toxicity.threshold": "high"}, "scanners.toxicity.threshold"),
        ({"scanners.sentiment.action": "explode"}, "scanners.sentiment.action"),
        ({"kafka.partitions": "0"}, "kafka.partitions"),
        ({"kafka.partitions": "2.5"}, "kafka.partitions"),
        ({"broker": "no-port"}, "broker"),
        ({"batching.window_seconds": "-1"}, "batching.window_seconds"),
        ({"topics.alerts": "llm-shield.verdicts"}, "topics"),
        ({"no.such.setting": "1"}, "no.such.setting"),
        ({"scanners.prompt_injection.enabled": "maybe"}, "enabled"),
        ({"policies.follow_wait_ms": "5000"}, "policies.follow_wait_ms"),
        ({"scanners.prompt_injection.response_threshold": "2"}, "response_threshold"),
        ({"scanners.prompt_injection.response_threshold": "auto"}, "response_threshold"),
        ({"scanners.prompt_injection.toxic_text_threshold": "1.2"}, "toxic_text_threshold"),
        (
            {"scanners.toxicity.toxic_text_threshold": "0.9"},
            "scanners.toxicity.toxic_text_threshold",
        ),
    ],
)
def test_bad_values_name_the_setting(overrides: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_settings(None, overrides, environ={})


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="LLM_SHIELD_KAFKA_PARTITIONS"):
        load_settings(environ={"LLM_SHIELD_KAFKA_PARTITIONS": "many"})


def test_config_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("broker = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, environ={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[topics]\nprompt = 'x'\n")
    with pytest.raises(ConfigError, match="unknown setting 'topics.prompt'"):
        load_settings(unknown, environ={})


def test_set_assignment_parsing() -> None:
    assert parse_assignment("scanners.toxicity.threshold=0.7") == (
        "scanners.toxicity.threshold",
        "0.7",
    )
    with pytest.raises(ConfigError, match="name=value"):
        parse_assignment("threshold")


def test_example_config_documents_the_defaults() -> None:
    example = Path(__file__).resolve().parents[2] / "streams" / "examples" / "llm-shield.toml"
    assert load_settings(example, environ={}) == load_settings(environ={})


def test_a_response_threshold_is_left_to_the_model_unless_given() -> None:
    """``model`` (the default) means the point the model's build recorded; a number wins."""
    assert Settings().scanners.prompt_injection.response_threshold is None
    given = load_settings(None, {"scanners.prompt_injection.response_threshold": "0.8"}, environ={})
    assert given.scanners.prompt_injection.response_threshold == 0.8
    env = {"LLM_SHIELD_SCANNERS_PROMPT_INJECTION_RESPONSE_THRESHOLD": "model"}
    assert load_settings(None, environ=env).scanners.prompt_injection.response_threshold is None
    assert shown_value(given, "scanners.toxicity.response_threshold") == "model"
