"""A build that writes to a log says how far its training is, since tqdm's bar is off there."""

from __future__ import annotations

import io

import pytest

pytest.importorskip("torch", reason="the training module needs the build extra")

from llm_shield.ops import train  # noqa: E402


def test_a_log_gets_a_line_every_tenth_with_the_time_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(train.sys, "stderr", io.StringIO())  # not a terminal
    lines: list[str] = []
    advance = train.milestones(lines.append, "fine-tune", 200, "batches")
    for _ in range(200):
        advance(1)
    assert len(lines) == 9  # 10% to 90%; the step's own summary line reports the end
    assert lines[0].strip().startswith("fine-tune: 10% (20 of 200 batches)")
    assert lines[-1].strip().startswith("fine-tune: 90% (180 of 200 batches)")
    # a loop this fast has under a minute left at every tenth
    assert all(line.endswith(", under a minute left") for line in lines)


def test_uneven_steps_say_each_tenth_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train.sys, "stderr", io.StringIO())
    lines: list[str] = []
    advance = train.milestones(lines.append, "lower layers", 1000, "texts")
    for n in (64, 64, 300, 64, 64, 400):
        advance(n)
    assert [line.split(":")[1].split("%")[0].strip() for line in lines] == ["10", "40", "50", "90"]


def test_a_terminal_keeps_only_the_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(train.sys, "stderr", Terminal())
    lines: list[str] = []
    advance = train.milestones(lines.append, "fine-tune", 10, "batches")
    for _ in range(10):
        advance(1)
    assert lines == []


def test_the_time_left_follows_the_pace_so_far(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train.sys, "stderr", io.StringIO())
    clock = iter([0.0, 120.0, 240.0])  # started, then at 10% and at 20%

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return next(clock)

    monkeypatch.setattr(train, "time", Clock)
    lines: list[str] = []
    advance = train.milestones(lines.append, "fine-tune", 200, "batches")
    for _ in range(40):
        advance(1)
    # 2 minutes for the first 20 batches: 18 minutes for the other 180; then 16 for 160
    assert [line.rsplit(", ", 1)[1] for line in lines] == [
        "about 18 min left",
        "about 16 min left",
    ]
