"""The project's exceptions, one base class and one subclass per thing a user can get wrong.

The CLI turns any ``ShieldError`` into one line on stderr and a non-zero exit; anything else that
escapes is a bug in our code and keeps its traceback.
"""


class ShieldError(Exception):
    """Base class: the message is written for the user, in one line."""

    exit_code = 1


class ConfigError(ShieldError):
    """A setting is missing, malformed or out of range; the message names the setting."""

    exit_code = 2


class InputFileError(ShieldError):
    """A file the user named cannot be read (missing, a directory, no permission)."""

    exit_code = 2


class BrokerUnreachable(ShieldError):
    """No Kafka broker answered at the configured address."""

    exit_code = 3


class BrokerError(ShieldError):
    """The broker answered but refused what we asked (topic creation, produce, fetch)."""

    exit_code = 3


class EmbeddedBrokerError(ShieldError):
    """The embedded Tansu broker is missing or did not start."""

    exit_code = 3
