"""Batch tokenisation over Hugging Face ``tokenizers`` (tokenizer.json), returning numpy feeds.

Long texts become overlapping windows of at most ``max_length`` tokens (special tokens included),
so an injection at the end of a long document is still seen; batches pad to their longest row,
not to max_length, so short texts cost little. Documents can also be cut into sentence windows:
one planted sentence is diluted in a 256-token window but stands out on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from llm_shield.models.encoded import read_encoded

# A sentence ends at . ! ? (with closing quotes or brackets) before white space, at a blank line,
# or at an HTML comment's edge. A single line break ends one only where the line before ends like
# a sentence or the next line starts a list item, a heading, a tag or a quote: text wrapped at 72
# columns (docstrings, e-mails) stays whole. Fragments of fewer than MIN_SENTENCE_WORDS words
# (headings, code lines, sign-offs) join the next sentence: alone they are not worth a window.
_SENTENCE_END = re.compile(
    r"(?<=[.!?])[\"')\]]*[ \t]+"
    r"|\n[ \t]*\n\s*"
    r"|(?<=[.!?:;])[\"')\]]*[ \t]*\n\s*"
    r"|[ \t]*\n(?=[ \t]*(?:[-*•#>|<\[{]|\d+[.)]\s))\s*"
    r"|(?=<!--)|(?<=-->)"
)
MIN_SENTENCE_WORDS = 6


# An e-mail's address lines ("From: Priya Nair <priya@example.com>", "To: a@b.example, c@d.example",
# and their German, French and Spanish names): the model never sees them (they are blanked,
# keeping every offset). They carry no instruction, and the model learned them as one: the
# planted instructions of its training came in e-mails with headers and the benign e-mails had
# none, so "From: ... To: ..." alone scored 0.98 and flagged benign mails read as documents. A
# display name of up to four words is all a line may hold besides addresses, so what an
# attacker can hide from the model there is short (the patterns still read it).
_NAME = r"\"?[^\W\d_][\w.'’-]*(?:[ \t]+[^\W\d_][\w.'’-]*){0,3}\"?"
_EMAIL = r"[^\s<>@,;\"]+@[^\s<>@,;\"]+"
_ADDRESS = rf"(?:{_NAME}[ \t]*<{_EMAIL}>|<?{_EMAIL}>?)"
_ADDRESS_LINE = re.compile(
    r"^[ \t]*(?:from|to|cc|bcc|reply-to|sender|von|an|kopie|de|à|a|para|répondre à|responder a)"
    rf"[ \t]*:[ \t]*{_ADDRESS}(?:[ \t]*[,;][ \t]*{_ADDRESS})*[ \t]*[,;]?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
# The same for a date line ("Date: Tue, 3 Sep 2024 10:12 +0200", "Gesendet: Montag, 2. September
# 2024 09:15"): "Date: ... Subject: Your invoice" scored 0.97. Its value may hold only digits,
# separators, day and month names (English, German, French, Spanish), AM/PM and a time zone. Each
# token is taken whole (possessive), so no input makes the pattern backtrack.
_DATE_WORDS = (
    "mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|"
    "saturday|sunday|jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|"
    "march|april|june|july|august|september|october|november|december|mo|di|mi|do|fr|sa|so|"
    "montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|januar|februar|märz|mai|juni|"
    "juli|oktober|dezember|lun|mer|jeu|ven|sam|dim|lundi|mardi|mercredi|jeudi|vendredi|"
    "samedi|dimanche|janv|févr|mars|avr|juin|juil|août|déc|janvier|février|avril|"
    "juillet|septembre|octobre|novembre|décembre|lunes|martes|miércoles|jueves|viernes|sábado|"
    "domingo|ene|abr|ago|dic|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|"
    "octubre|noviembre|diciembre|de|del|um|à|a|las|at|am|pm|utc|gmt|[a-z]{1,2}t"
)
_DATE_LINE = re.compile(
    r"^[ \t]*(?:date|sent|datum|gesendet|fecha|enviado|envoyé|date d'envoi)[ \t]*:"
    rf"[ \t/.:,+()-]*+(?:(?:\d++|(?:{_DATE_WORDS})\b)[ \t/.:,+()-]*+)++$",
    re.IGNORECASE | re.MULTILINE,
)
# Part of the cache key of model scores: a change to what the model sees changes the scores.
MODEL_VIEW = "headers-blank+encoded"


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group())


def model_view(text: str) -> str:
    """The text as the model reads it: e-mail address and date lines blanked, encoded runs
    decoded or blanked (``models.encoded``), every offset kept (the patterns and the verdict's
    spans see the text as it came)."""
    text = read_encoded(text)
    if ":" not in text:
        return text
    if "@" in text:
        text = _ADDRESS_LINE.sub(_blank, text)
    return _DATE_LINE.sub(_blank, text)


@dataclass(frozen=True)
class Window:
    """Token ids of one row the model scores, and the characters of the text it covers."""

    ids: list[int]
    start: int
    end: int


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (short fragments merged forward)."""
    spans: list[tuple[int, int]] = []
    start = 0
    pending: int | None = None
    for match in _SENTENCE_END.finditer(text):
        end = match.start()
        if end > start and text[start:end].strip():
            begin = start if pending is None else pending
            if len(text[begin:end].split()) < MIN_SENTENCE_WORDS:
                pending = begin
            else:
                spans.append((begin, end))
                pending = None
        start = match.end()
    if start < len(text) and text[start:].strip():
        spans.append((start if pending is None else pending, len(text)))
    elif pending is not None:
        spans.append((pending, len(text.rstrip())))
    if len(spans) > 1 and len(text[slice(*spans[-1])].split()) < MIN_SENTENCE_WORDS:
        last = spans.pop()
        spans[-1] = (spans[-1][0], last[1])
    return spans


class TextTokenizer:
    def __init__(
        self,
        path: Path,
        *,
        max_length: int,
        truncation_side: str = "right",
        overlap_tokens: int = 32,
    ) -> None:
        self.path = path
        self.max_length = max_length
        self.overlap_tokens = min(overlap_tokens, max_length // 4)
        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.enable_truncation(
            max_length=max_length, stride=self.overlap_tokens, direction=truncation_side
        )
        self._tokenizer.no_padding()
        pad_id = self._tokenizer.token_to_id("[PAD]")
        if pad_id is None:
            pad_id = self._tokenizer.token_to_id("<pad>")
        self.pad_id = 0 if pad_id is None else pad_id

    def windows(self, texts: Sequence[str], max_windows: int = 64) -> list[list[list[int]]]:
        """Token ids per window, per text. Beyond ``max_windows`` the middle is dropped: the
        first windows and the last one are kept, since attacks hide at either end."""
        out = []
        for encoding in self._tokenizer.encode_batch(list(texts)):
            rows = [encoding.ids] + [o.ids for o in encoding.overflowing]
            if len(rows) > max_windows:
                rows = rows[: max_windows - 1] + rows[-1:]
            out.append(rows)
        return out

    def spans(self, texts: Sequence[str], max_windows: int = 64) -> list[list[Window]]:
        """Like ``windows``, with each window's character span in its text."""
        out = []
        for text, encoding in zip(texts, self._tokenizer.encode_batch(list(texts)), strict=True):
            rows = [encoding, *encoding.overflowing]
            if len(rows) > max_windows:
                rows = rows[: max_windows - 1] + rows[-1:]
            out.append([_window(row, len(text)) for row in rows])
        return out

    def sentence_windows(
        self, texts: Sequence[str], max_tokens: int, max_windows: int = 128
    ) -> list[list[Window]]:
        """Per text, one row per sentence (a longer sentence cut at ``max_tokens``), each with
        its span. Texts of one sentence get none: their whole-text windows already are that."""
        pieces: list[tuple[int, int, int]] = []  # (text index, start, end)
        for index, text in enumerate(texts):
            spans = sentence_spans(text)
            if len(spans) > 1:
                if len(spans) > max_windows:
                    spans = spans[: max_windows - 1] + spans[-1:]
                pieces.extend((index, start, end) for start, end in spans)
        out: list[list[Window]] = [[] for _ in texts]
        if not pieces:
            return out
        encodings = self._tokenizer.encode_batch([texts[i][s:e] for i, s, e in pieces])
        for (index, start, _), encoding in zip(pieces, encodings, strict=True):
            ids = encoding.ids
            if len(ids) > max_tokens:  # keep the special tokens at both ends
                ids = ids[: max_tokens - 1] + ids[-1:]
            offsets = [o for o in encoding.offsets if o != (0, 0)]
            end = offsets[min(len(offsets), max_tokens - 2) - 1][1] if offsets else 0
            out[index].append(Window(ids, start, start + end))
        return out

    def lengths(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts))]

    def pad(self, rows: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """``input_ids`` and ``attention_mask`` (int64, rows x longest row)."""
        width = max((len(r) for r in rows), default=1) or 1
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for index, row in enumerate(rows):
            ids[index, : len(row)] = row
            mask[index, : len(row)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """First window of each text only (what the training pipeline embeds)."""
        return self.pad([e.ids for e in self._tokenizer.encode_batch(list(texts))])


def _window(encoding: object, text_length: int) -> Window:
    offsets = [o for o in encoding.offsets if o != (0, 0)]  # type: ignore[attr-defined]
    if not offsets:
        return Window(list(encoding.ids), 0, text_length)  # type: ignore[attr-defined]
    return Window(list(encoding.ids), offsets[0][0], offsets[-1][1])  # type: ignore[attr-defined]
