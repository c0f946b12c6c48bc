"""TLS and SASL settings: where secrets may come from, and that they reach every Kafka client.

No local broker checks SASL (the embedded Tansu cannot create users), so these tests show how the
settings become client options; TLS is tested end to end in tests/integration/test_tls.py.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from llm_shield.streams import kafka
from llm_shield.streams.config import load_settings, shown_value
from llm_shield.streams.errors import BrokerUnreachable, ConfigError
from llm_shield.streams.security import aiokafka_options, faust_credentials

SASL_ENV = {
    "LLM_SHIELD_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "LLM_SHIELD_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "LLM_SHIELD_KAFKA_SASL_USERNAME": "shield",
    "LLM_SHIELD_KAFKA_SASL_PASSWORD": "s3cret-from-env",
}


def test_password_comes_from_the_environment() -> None:
    settings = load_settings(environ=SASL_ENV)
    assert settings.kafka.sasl_password == "s3cret-from-env"
    assert "s3cret" not in repr(settings)
    assert shown_value(settings, "kafka.sasl_password") == "***"


def test_password_comes_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-from-file\n")
    env = {k: v for k, v in SASL_ENV.items() if not k.endswith("PASSWORD")}
    env["LLM_SHIELD_KAFKA_SASL_PASSWORD_FILE"] = str(secret)
    assert load_settings(environ=env).kafka.sasl_password == "s3cret-from-file"


def test_password_file_that_is_missing_is_one_line(tmp_path: Path) -> None:
    env = {**SASL_ENV, "LLM_SHIELD_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "nope")}
    del env["LLM_SHIELD_KAFKA_SASL_PASSWORD"]
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(environ=env)


def test_password_never_from_a_config_file_or_a_flag(tmp_path: Path) -> None:
    config = tmp_path / "shield.toml"
    config.write_text('[kafka]\nsasl_password = "in-a-file-in-git"\n')
    with pytest.raises(ConfigError, match="LLM_SHIELD_KAFKA_SASL_PASSWORD"):
        load_settings(config, environ={})
    with pytest.raises(ConfigError, match="may not come from the command line"):
        load_settings(None, {"kafka.sasl_password": "in-shell-history"}, environ={})


def test_sasl_without_a_password_is_a_clear_error() -> None:
    env = {k: v for k, v in SASL_ENV.items() if not k.endswith("PASSWORD")}
    with pytest.raises(ConfigError, match="needs a password"):
        load_settings(environ=env)


def test_unknown_mechanism_and_protocol_are_refused() -> None:
    with pytest.raises(ConfigError, match="sasl_mechanism"):
        load_settings(environ={**SASL_ENV, "LLM_SHIELD_KAFKA_SASL_MECHANISM": "MD5"})
    with pytest.raises(ConfigError, match="security_protocol"):
        load_settings(environ={"LLM_SHIELD_KAFKA_SECURITY_PROTOCOL": "TLS"})


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_options_for_plain_clients_and_faust(protocol: str, mechanism: str) -> None:
    env = {
        **SASL_ENV,
        "LLM_SHIELD_KAFKA_SECURITY_PROTOCOL": protocol,
        "LLM_SHIELD_KAFKA_SASL_MECHANISM": mechanism,
    }
    settings = load_settings(environ=env)
    options = aiokafka_options(settings)
    assert options["security_protocol"] == protocol
    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "shield"
    assert options["sasl_plain_password"] == "s3cret-from-env"
    assert isinstance(options.get("ssl_context"), ssl.SSLContext) == (protocol == "SASL_SSL")

    # What faust hands to its own aiokafka consumer, producer and admin client.
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    faust_options = credentials_to_aiokafka_auth(faust_credentials(settings))
    assert faust_options["security_protocol"] == protocol
    assert faust_options["sasl_mechanism"] == mechanism
    assert faust_options["sasl_plain_username"] == "shield"
    assert faust_options["sasl_plain_password"] == "s3cret-from-env"


def test_plaintext_adds_no_security_options() -> None:
    settings = load_settings(environ={})
    assert aiokafka_options(settings) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(settings) is None


def test_faust_app_is_built_with_the_credentials() -> None:
    from llm_shield.streams.app import create_app
    from llm_shield.streams.pipeline import Pipeline

    settings = load_settings(
        None, {"scanners.prompt_injection.mode": "heuristic"}, environ=SASL_ENV
    )
    app = create_app(settings, Pipeline(settings, scanners={}))
    credentials = app.conf.broker_credentials
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.username == "shield"
    assert credentials.password == "s3cret-from-env"


class _Recorder:
    """Stands in for an aiokafka client class: records its options, never connects."""

    calls: list[tuple[str, dict[str, Any]]] = []
    role = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _Recorder.calls.append((self.role, kwargs))

    async def start(self) -> None:
        raise KafkaConnectionError("recorded, not connected")

    async def stop(self) -> None:
        pass

    async def close(self) -> None:
        pass


def test_cli_clients_get_the_sasl_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """``publish``, ``tail`` and the topic setup all build their clients with the options."""
    _Recorder.calls = []
    for name in ("AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"):
        monkeypatch.setattr(kafka, name, type(name, (_Recorder,), {"role": name}))
    settings = load_settings(None, {"kafka.connect_timeout_seconds": "0.01"}, environ=SASL_ENV)

    async def tail() -> None:
        async for _ in kafka.read_topic(settings, "t", max_records=1):
            pass

    for attempt in (
        kafka.ensure_topics(settings),
        kafka.publish_lines(settings, [b'{"id": "1", "text": "x"}']),
        tail(),
    ):
        with pytest.raises(BrokerUnreachable):
            asyncio.run(attempt)
    roles = {role for role, _ in _Recorder.calls}
    assert roles == {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"}
    for _, options in _Recorder.calls:
        assert options["security_protocol"] == "SASL_PLAINTEXT"
        assert options["sasl_mechanism"] == "SCRAM-SHA-512"
        assert options["sasl_plain_password"] == "s3cret-from-env"


def test_tls_options_load_the_ca_and_client_certificate_or_say_why_not(tmp_path: Path) -> None:
    env = {
        "LLM_SHIELD_KAFKA_SECURITY_PROTOCOL": "SSL",
        "LLM_SHIELD_KAFKA_SSL_CAFILE": str(tmp_path / "missing-ca.pem"),
    }
    with pytest.raises(ConfigError, match="ssl_cafile"):
        aiokafka_options(load_settings(environ=env))
    with pytest.raises(ConfigError, match="go together"):
        load_settings(environ={**env, "LLM_SHIELD_KAFKA_SSL_CERTFILE": "client.pem"})
    context = aiokafka_options(
        load_settings(environ={"LLM_SHIELD_KAFKA_SECURITY_PROTOCOL": "SSL"})
    )["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
