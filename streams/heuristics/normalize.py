"""Text normalisation shared by the heuristic scanners.

Attackers write "іgnore" with a Cyrillic i, "1gn0re", "i g n o r e" or hide words behind zero-width
characters; the pattern scanners match on normalised views so that one pattern covers all spellings.
All functions are linear in the text length.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from llm_shield.streams.frozen import record

_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
_DROP_ZERO_WIDTH = dict.fromkeys(map(ord, _ZERO_WIDTH))

# Cyrillic and Greek letters that render like Latin ones (after casefolding).
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "һ": "h",
        "ӏ": "l",
        "ԛ": "q",
        "ԝ": "w",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ɡ": "g",
        "ı": "i",
    }
)

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)

_WHITESPACE = re.compile(r"\s+")
# A candidate leet word, e.g. "1gn0re", "pr0mpt", "sh!t"; a trailing "!" is punctuation, not an i.
# Only maximal runs that hold a leet character: the run must start at a run boundary and the
# quantifiers are possessive, so a long run of plain letters fails at once (linear, and the
# Python callback runs for candidate words only, not for every word).
_LEET_WORD = re.compile(r"(?<![a-z0-9@$!])[a-z]*+[0-9@$!][a-z0-9@$!]*+")
_LETTER = re.compile(r"[a-z]")
_LEET_CHAR = re.compile(r"[0-9@$!]")
# Three or more single letters separated by one space/dot/dash/underscore/asterisk: "i g n o r e".
_SPACED_LETTERS = re.compile(r"(?<![a-z])(?:[a-z][ .\-_*]){3,}[a-z](?![a-z])")
_SPACING = re.compile(r"[ .\-_*]")


def normalize(text: str, *, collapse_whitespace: bool = True) -> str:
    """NFKC, zero-width characters dropped, casefolded, homoglyphs mapped, whitespace collapsed.

    ``collapse_whitespace=False`` keeps runs of spaces, which ``despace`` reads as word breaks in
    letter-spaced text ("i g n o r e   p r e v i o u s").
    """
    if text.isascii():  # NFKC, zero-width and homoglyph maps change no ASCII character
        text = text.lower()  # casefold() of ASCII
    else:
        text = unicodedata.normalize("NFKC", text).translate(_DROP_ZERO_WIDTH).casefold()
        text = text.translate(_HOMOGLYPHS)
    return _WHITESPACE.sub(" ", text).strip() if collapse_whitespace else text


@record
class Views:
    """The normalised readings of one text that both pattern scanners match on."""

    normalized: str  # normalize(text)
    despaced: str  # letter-spaced words joined
    spaced_words: int
    deleeted: str  # the despaced text with leetspeak rewritten
    leet_words: int


def _views(text: str) -> Views:
    kept = normalize(text, collapse_whitespace=False)
    despaced, spaced_words = despace(kept)
    deleeted, leet_words = deleet(despaced)
    normalized = _WHITESPACE.sub(" ", kept).strip()
    return Views(normalized, despaced, spaced_words, deleeted, leet_words)


_recent_views = functools.lru_cache(maxsize=512)(_views)
_CACHED_VIEW_CHARS = 4096  # longer texts are computed again: the cache stays under ~10 MB


def views(text: str) -> Views:
    """Computed once per text for both scanners: the pipeline runs injection and toxicity over
    the same batch one after the other (512 entries cover the largest batch, 256)."""
    return _recent_views(text) if len(text) <= _CACHED_VIEW_CHARS else _views(text)


def has_zero_width(text: str) -> bool:
    return any(ch in text for ch in _ZERO_WIDTH)


def deleet(normalized: str) -> tuple[str, int]:
    """Rewrite leetspeak words into letters; returns the text and how many words changed."""
    count = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal count
        run = match.group(0)
        word = run.rstrip("!")
        if len(word) < 2 or not (_LETTER.search(word) and _LEET_CHAR.search(word)):
            return run
        count += 1
        return word.translate(_LEET) + run[len(word) :]

    return _LEET_WORD.sub(fix, normalized), count


def despace(normalized: str) -> tuple[str, int]:
    """Join letter-spaced words ("i g n o r e" -> "ignore"); returns the text and the count."""
    count = 0

    def join(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return _SPACING.sub("", match.group(0))

    return _WHITESPACE.sub(" ", _SPACED_LETTERS.sub(join, normalized)).strip(), count


_LOOKALIKE_LETTERS = "авеёкмнорстухіїјѕԁһӏԛԝαβεηικνορτυχ"
_LOOKALIKE = re.compile(f"[{_LOOKALIKE_LETTERS}]")


def mixed_script_words(text: str) -> int:
    """How many words mix Latin letters with Cyrillic or Greek look-alikes (a homoglyph attack)."""
    if text.isascii() or not _LOOKALIKE.search(text.lower()):
        return 0
    count = 0
    for word in re.findall(r"\w{3,}", text):
        has_latin = any("a" <= ch.lower() <= "z" for ch in word)
        if not has_latin:
            continue
        if any(ch.lower() in _LOOKALIKE_LETTERS for ch in word):
            count += 1
    return count


# Words attackers misspell to slip past patterns ("ignroe all previus instrucitons"). A word of
# five letters or more one edit away from one of them (a letter dropped, added, changed or two
# swapped) is read as it: both sides' one-letter deletions are compared (symmetric delete), a
# dictionary lookup per deletion, so the cost stays linear in the text.
TRIGGER_VOCABULARY = (
    "ignore",
    "disregard",
    "previous",
    "instructions",
    "instruction",
    "system",
    "prompt",
    "forget",
    "override",
    "bypass",
    "reveal",
    "restrictions",
    "guidelines",
    "jailbreak",
    "pretend",
    "developer",
    "unrestricted",
    "unfiltered",
    "directives",
    "everything",
    "earlier",
    "preceding",
    "confidential",
    "password",
)


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


_VOCABULARY = frozenset(TRIGGER_VOCABULARY)
_BY_DELETION: dict[str, str] = {}
for _word in TRIGGER_VOCABULARY:
    for _key in (_word, *_deletions(_word)):
        _BY_DELETION.setdefault(_key, _word)
_WORD = re.compile(r"[a-z]{5,}")


# Everyday words one edit from a trigger word are not typos: read as the trigger word, "I forgot
# all the API tokens" became "forget all" and "the hero forgets everything" a context reset (4
# benign tuning prompts flagged by the patterns alone, no attack caught by the respelling of
# these words). The trigger word's own inflections (ignored, prompts) are left as they are too.
_NOT_TYPOS = frozenset({"forgot", "forest", "forge", "forged", "forger", "developed", "systemd"})


def _correction(word: str) -> str | None:
    if word in _VOCABULARY or word in _NOT_TYPOS or len(word) > 16:
        return None
    for key in (word, *_deletions(word)):
        found = _BY_DELETION.get(key)
        if found is not None and abs(len(found) - len(word)) <= 1:
            if word in (found + "s", found + "d"):
                return None  # an inflection, not a misspelling
            return found
    return None


# Word -> its correction (None: leave it). Everyday words repeat across texts, so each distinct
# word's deletions are computed once; bounded, and simply emptied when full.
_CORRECTIONS: dict[str, str | None] = {}
_CORRECTIONS_MAX = 200_000
_UNKNOWN = object()


def respell(normalized: str) -> tuple[str, int]:
    """Misspelled trigger words put right; returns the text and how many words changed."""
    corrections = _CORRECTIONS
    typos = False
    for word in set(_WORD.findall(normalized)):
        found = corrections.get(word, _UNKNOWN)
        if found is _UNKNOWN:
            if len(corrections) >= _CORRECTIONS_MAX:
                corrections.clear()
            found = corrections[word] = _correction(word)
        if found is not None:
            typos = True
    if not typos:  # the common case: nothing to rewrite
        return normalized, 0
    count = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal count
        word = match.group(0)
        found = corrections.get(word, _UNKNOWN)
        if found is _UNKNOWN:  # emptied meanwhile by another thread
            found = _correction(word)
        if found is None:
            return word
        count += 1
        return found

    return _WORD.sub(fix, normalized), count
