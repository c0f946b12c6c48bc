"""One pass over a text for a whole list of patterns, then Python's ``re`` only where it may match.

The heuristics keep their patterns as Python regular expressions: those stay the definition of a
match. A ``PatternSet`` also compiles all of them into one Hyperscan database in prefilter mode
(each pattern widened to a superset, lookarounds included), scans a text once, and confirms with
``re`` only the patterns Hyperscan reported: on most texts none. Results are identical to trying
every pattern, which is what happens where Hyperscan is not installed (it ships x86-64 wheels).

Hyperscan reads bytes in ASCII mode here (its UTF-8 + Unicode mode took two minutes to compile
our patterns): a text is projected to ASCII first, every other character becoming one that the
pattern elements treat alike (a word character, a space, or a non-word symbol), so the projection
can only match more. Patterns that name a non-ASCII character are always tried with ``re``.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

try:  # an accelerator, never a requirement: without it every pattern is tried in turn
    import hyperscan
except ImportError:  # pragma: no cover - hyperscan is a declared dependency on x86-64
    hyperscan = None

ENGINES = ("auto", "hyperscan", "re")
# Elements the ASCII projection does not keep apart (a Unicode digit becomes a word letter).
_UNPROJECTABLE = re.compile(r"\\[dD]")
_WORD_CHAR = re.compile(r"\w")
_SPACE_CHAR = re.compile(r"\s")


class _AsciiProjection(dict):
    """``str.translate`` table built as characters are met: ASCII stays (Python's ``\\s`` also
    takes \\x1c-\\x1f, so those become spaces), other word characters become ``a``, other
    spaces a space, anything else DEL (a non-word, non-space symbol no pattern names)."""

    def __init__(self) -> None:
        super().__init__({code: " " if 0x1C <= code < 0x20 else chr(code) for code in range(128)})

    def __missing__(self, code: int) -> str:
        char = chr(code)
        value = "a" if _WORD_CHAR.match(char) else " " if _SPACE_CHAR.match(char) else "\x7f"
        if len(self) < 100_000:
            self[code] = value
        return value


_PROJECTION = _AsciiProjection()


_ASCII_BYTES = bytes(_PROJECTION[code].encode("ascii")[0] for code in range(128)) + bytes(128)


def ascii_projection(text: str) -> bytes:
    """What Hyperscan scans for ``text``: one ASCII byte per character."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_BYTES)
    return text.translate(_PROJECTION).encode("ascii")


class PatternSet:
    """Which of ``patterns`` occur in a text, scanning it once.

    ``engine="re"`` tries every pattern in turn (the reference the tests compare against);
    ``"hyperscan"`` requires the one-pass engine; ``"auto"`` uses it when it is installed.
    """

    def __init__(self, patterns: Sequence[re.Pattern[str]], *, engine: str = "auto") -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        self.patterns = tuple(patterns)
        self._all = tuple(range(len(self.patterns)))
        self._database: Any = None
        self._always: frozenset[int] = frozenset()
        self._scratch = threading.local()  # Hyperscan scratch space is one per thread
        if engine == "re" or (engine == "auto" and hyperscan is None):
            self.engine = "re"
            return
        if hyperscan is None:
            raise RuntimeError("the hyperscan engine is not installed (pip install hyperscan)")
        for pattern in self.patterns:
            if pattern.flags & ~(re.UNICODE | re.MULTILINE):
                raise ValueError(f"unsupported regex flags in a pattern set: {pattern.pattern!r}")
        self._always = frozenset(
            i
            for i, p in enumerate(self.patterns)
            if not p.pattern.isascii() or _UNPROJECTABLE.search(p.pattern)
        )
        scanned = [i for i in self._all if i not in self._always]
        try:
            self._database = _compile([self.patterns[i] for i in scanned], scanned)
        except hyperscan.error as exc:  # e.g. a CPU without the instructions it needs
            if engine == "hyperscan":
                raise
            log.warning("hyperscan could not compile the patterns (%s); trying each in turn", exc)
            self._always = frozenset()
            self.engine = "re"
            return
        self.engine = "hyperscan"

    def candidates(self, text: str) -> Sequence[int]:
        """Indices of the patterns that may match, in pattern order (a superset of the matches)."""
        if self._database is None:
            return self._all
        found: set[int] = set(self._always)
        scratch = getattr(self._scratch, "value", None)
        if scratch is None:
            scratch = self._scratch.value = hyperscan.Scratch(self._database)
        self._database.scan(
            ascii_projection(text), match_event_handler=_collect, context=found, scratch=scratch
        )
        return sorted(found)

    def search(self, text: str) -> list[int]:
        """Indices of the patterns that match, in pattern order."""
        return [i for i in self.candidates(text) if self.patterns[i].search(text)]


@functools.cache
def shared_pattern_set(patterns: tuple[re.Pattern[str], ...], engine: str = "auto") -> PatternSet:
    """One ``PatternSet`` per pattern tuple and engine in a process: compiling takes about a
    second, and every scanner instance of a kind shares the same patterns."""
    return PatternSet(patterns, engine=engine)


def _collect(pattern_id: int, start: int, end: int, flags: int, found: set[int]) -> None:
    found.add(pattern_id)


def _compile(patterns: Sequence[re.Pattern[str]], ids: Sequence[int]) -> Any:
    """One block-mode database; every pattern reports at most once (we only need whether)."""
    flags = []
    for pattern in patterns:
        value = hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_PREFILTER
        if pattern.flags & re.MULTILINE:
            value |= hyperscan.HS_FLAG_MULTILINE
        flags.append(value)
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=[p.pattern.encode("ascii") for p in patterns],
        ids=list(ids),
        elements=len(patterns),
        flags=flags,
    )
    return database
