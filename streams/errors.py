"""What can go wrong in the Kafka worker, in the user's words: settings and brokers.

Each is a ``ShieldError`` (``registry/errors.py``), so the CLI prints it as one line with its exit
code.
"""

from llm_shield.registry.errors import ShieldError


class ConfigError(ShieldError):
    """A setting is missing, malformed or out of range; the message names the setting."""

    exit_code = 2


class BrokerUnreachable(ShieldError):
    """No Kafka broker answered at the configured address."""

    exit_code = 3


class BrokerError(ShieldError):
    """The broker answered but refused what we asked (topic creation, produce, fetch)."""

    exit_code = 3


class DeliveryFailed(BrokerError):
    """The broker kept refusing a batch's verdicts (or alerts, dead letters, state changes)."""


class EmbeddedBrokerError(ShieldError):
    """The embedded Tansu broker is missing or did not start."""

    exit_code = 3


class ModelUnavailable(ShieldError):
    """A configured model cannot answer (not installed, wrong outputs, files changed on disk) and
    its scanner is configured ``fallback = "none"``."""

    exit_code = 2
