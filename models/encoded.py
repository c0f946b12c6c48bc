"""Encoded runs in a text: hex digests, base64 and base64url, UUIDs, and what they decode to.

Agents read hashes, tokens, keys and base64 file contents all day (git logs, image digests,
lockfiles, OAuth answers), and the encoder learned a long opaque run as a sign of an attack: a
`git log` read as a tool output scored 0.93. The model's view (``read_encoded``) therefore shows
a run that decodes to text as that text, so an instruction hidden in base64 is read in words, and
blanks a run that decodes to nothing readable and looks like noise. Every offset is kept: a
decoded text is padded with spaces to the length of its run.
"""

from __future__ import annotations

import base64
import binascii
import re

# A UUID is blanked whole; a hex run of 12 or more characters holding a digit and a letter is a
# digest, an id or hex-encoded bytes. Words made of the letters a-f hold no digit and stay.
_UUID = re.compile(
    r"(?<![0-9A-Za-z])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9A-Za-z])",
    re.IGNORECASE,
)
_HEX = re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{12,}(?![0-9A-Za-z])", re.IGNORECASE)
_HEX_BODY = re.compile(r"[0-9a-fA-F]+")
# base64 (+ /) or base64url (- _), 20 characters or more, with its padding. The look-behind
# keeps a match from starting inside a longer run, so the scan stays linear.
_BASE64 = re.compile(r"(?<![0-9A-Za-z+/_=-])[0-9A-Za-z+/_-]{20,}={0,2}(?![0-9A-Za-z+/_=-])")
# Every run the three patterns can take lies in one of these; most texts hold none that is long
# enough or has a digit, and leave after this one scan (3 us a text, against 25 for all three).
_CANDIDATE = re.compile(r"[0-9A-Za-z+/_-]{12,}")
_DIGIT = re.compile(r"[0-9]")
_LETTER = re.compile(r"[A-Za-z]")
# Letters in runs of four or more of one case: words, CamelCase and CONSTANT_NAMES are made of
# them, random base64 is not (a median of 15% of its characters, 99th percentile 55% at 20
# characters and 35% at 88).
_WORDISH = re.compile(r"[a-z]{4,}|[A-Z]{4,}")
_MAX_WORDISH = 0.5
_SEPARATOR = re.compile(r"[-_/+]")
_MIN_STRETCH = 12
_MIN_TEXT = 4


def _readable(raw: bytes) -> str | None:
    """The bytes as text when they are UTF-8 that a person could read, else None."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < _MIN_TEXT:
        return None
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\n\r\t")
    plain = sum(1 for ch in text if ch.isalnum() or ch.isspace())
    if printable < 0.95 * len(text) or plain < 0.5 * len(text):
        return None
    return text


def decode_run(run: str) -> str | None:
    """What a base64, base64url or hex run says, when it decodes to readable text."""
    body = run.rstrip("=")
    if len(body) % 2 == 0 and _HEX_BODY.fullmatch(body):
        return _readable(bytes.fromhex(body))
    if len(body) % 4 == 1:
        return None
    padded = body + "=" * (-len(body) % 4)
    url_safe = "-" in body or "_" in body
    if url_safe and ("+" in body or "/" in body):
        return None
    try:
        if url_safe:
            raw = base64.urlsafe_b64decode(padded)
        else:
            raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _readable(raw)


def _opaque(run: str) -> bool:
    """A run that reads as noise: a digit among its characters, a stretch of 12 or more
    characters without a separator (pod names, slugs and paths are short words and ids joined
    by ``-``, ``_`` or ``/``), and few word-like letters."""
    if not _DIGIT.search(run):
        return False
    if max(len(part) for part in _SEPARATOR.split(run)) < _MIN_STRETCH:
        return False
    wordish = sum(len(m.group()) for m in _WORDISH.finditer(run))
    return wordish < _MAX_WORDISH * len(run)


def read_encoded(text: str) -> str:
    """The text with each encoded run shown as the text it decodes to, or blanked when it
    decodes to nothing readable and looks like noise; runs of words are left as they are."""
    if not any(len(run) >= 20 or _DIGIT.search(run) for run in _CANDIDATE.findall(text)):
        return text
    edits: list[tuple[int, int, str | None]] = []
    covered = bytearray(len(text))

    def take(start: int, end: int, decoded: str | None) -> None:
        edits.append((start, end, decoded))
        covered[start:end] = b"\x01" * (end - start)

    for match in _UUID.finditer(text):
        take(match.start(), match.end(), None)
    for match in _HEX.finditer(text):
        run = match.group()
        if covered[match.start()] or not _LETTER.search(run) or not _opaque(run):
            continue
        take(match.start(), match.end(), decode_run(run))
    for match in _BASE64.finditer(text):
        if covered.find(1, match.start(), match.end()) != -1:
            continue
        run = match.group()
        if not _LETTER.search(run):
            continue  # a long number
        decoded = decode_run(run)
        if decoded is not None or _opaque(run):
            take(match.start(), match.end(), decoded)
    if not edits:
        return text
    pieces: list[str] = []
    last = 0
    for start, end, decoded in sorted(edits):
        pieces.append(text[last:start])
        pieces.append((decoded or "")[: end - start].ljust(end - start))
        last = end
    pieces.append(text[last:])
    return "".join(pieces)
