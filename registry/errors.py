"""The project's base exception, in the bottom layer so that every part can raise its own kind.

``registry`` imports nothing else of ours; ``models``, ``streams`` and ``ops`` all sit above it, so
each defines its exceptions as subclasses of ``ShieldError`` without depending on Kafka or on the
model runtime. The CLI turns any ``ShieldError`` into one line on stderr and its ``exit_code``;
anything else that escapes is a bug in our code and keeps its traceback.
"""


class ShieldError(Exception):
    """Base class: the message is written for the user, in one line."""

    exit_code = 1
