"""Transport security for every Kafka client the project makes, from one place.

The faust worker, ``publish``, ``tail``, topic setup and the bench all take their TLS and SASL
options from here, so a setting cannot reach one client and miss another. The password is
resolved by the settings loader (environment or file) and only ever handed to the client.
"""

from __future__ import annotations

import ssl
from typing import Any

from llm_shield.streams.config import Settings
from llm_shield.streams.errors import ConfigError


def uses_tls(settings: Settings) -> bool:
    return settings.kafka.security_protocol in ("SSL", "SASL_SSL")


def uses_sasl(settings: Settings) -> bool:
    return settings.kafka.security_protocol.startswith("SASL")


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A client TLS context that verifies the broker (CA file or system CAs, hostname check)."""
    if not uses_tls(settings):
        return None
    kafka = settings.kafka
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=kafka.ssl_cafile or None
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"kafka.ssl_cafile {kafka.ssl_cafile}: cannot load CAs ({exc})") from None
    context.check_hostname = kafka.ssl_check_hostname
    if kafka.ssl_certfile:
        try:
            context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"kafka.ssl_certfile/ssl_keyfile: cannot load the client certificate ({exc})"
            ) from None
    return context


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka producer, consumer or admin client."""
    options: dict[str, Any] = {"security_protocol": settings.kafka.security_protocol}
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if uses_sasl(settings):
        options["sasl_mechanism"] = settings.kafka.sasl_mechanism
        options["sasl_plain_username"] = settings.kafka.sasl_username
        options["sasl_plain_password"] = settings.kafka.sasl_password
    return options


def faust_credentials(settings: Settings) -> Any:
    """The ``broker_credentials`` for the faust app (its consumer, producer and admin)."""
    import faust

    context = ssl_context(settings)
    if uses_sasl(settings):
        return faust.SASLCredentials(
            username=settings.kafka.sasl_username,
            password=settings.kafka.sasl_password,
            ssl_context=context,
            mechanism=settings.kafka.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
