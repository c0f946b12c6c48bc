"""Masking personal data in what the worker writes about its input: dead letters and logs.

Verdicts never copy the input text; a dead letter keeps an excerpt of the raw value so that a
person can see what was wrong with it, and a log line may quote a value. With ``input.redact``
on (the default) e-mail addresses, phone numbers and payment card numbers in those are replaced
by ``[email]``, ``[phone]`` and ``[card]``. Every pattern has bounded repetition and no nested
quantifiers, so a hostile 64 KiB value costs linear time.
"""

from __future__ import annotations

import logging
import re

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")
# 13-19 digits, optionally grouped by single spaces or dashes; only a Luhn-valid run is a card.
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])")
# A run of 8-15 digits with the usual phone punctuation; a leading + is kept inside the match.
PHONE = re.compile(r"(?<![\w+])\+?\(?\d(?:[ ().-]{0,2}\d){7,14}(?!\d)")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[card]" if _luhn_ok(digits) else match.group()


DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}")


def _phone(match: re.Match[str]) -> str:
    found = match.group()
    digits = sum(char.isdigit() for char in found)
    if DATE.match(found) and digits <= 8 + 6:  # a date (and time) is not a phone number
        return found
    if digits < 9 and found[0] not in "+(":
        return found
    return "[phone]"


def redact(text: str) -> str:
    """The text with e-mail addresses, card numbers and phone numbers masked."""
    if not text:
        return text
    text = EMAIL.sub("[email]", text)
    text = CARD.sub(_card, text)
    return PHONE.sub(_phone, text)


class RedactingFilter(logging.Filter):
    """A handler filter that masks personal data in every formatted log message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken log call must not break the worker
            return True
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def redact_logs() -> None:
    """Install the filter on every handler of the root logger (call after logging is set up)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
