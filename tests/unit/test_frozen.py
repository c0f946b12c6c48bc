"""``record``: a frozen dataclass with a faster constructor behaves as the dataclass does."""

from __future__ import annotations

import dataclasses

import pytest

from llm_shield.streams.frozen import record
from llm_shield.streams.scanner import ScanResult


@record
class Sample:
    name: str
    score: float = 0.5
    tags: dict[str, int] = dataclasses.field(default_factory=dict)
    parts: tuple[str, ...] = ()


def test_fields_defaults_and_factories_as_the_dataclass_sets_them() -> None:
    first, second = Sample("a"), Sample("b", 0.9, {"x": 1}, ("p",))
    assert (first.name, first.score, first.tags, first.parts) == ("a", 0.5, {}, ())
    assert Sample(name="b", parts=("p",), tags={"x": 1}, score=0.9) == second
    assert Sample("a").tags is not first.tags  # a fresh dict each time, as default_factory
    assert hash(ScanResult(0.1, "SAFE", 0.1)) == hash(ScanResult(0.1, "SAFE", 0.1))
    assert repr(first) == "Sample(name='a', score=0.5, tags={}, parts=())"
    assert dataclasses.replace(second, score=0.1).score == 0.1


def test_still_frozen_and_strict_about_arguments() -> None:
    sample = Sample("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.name = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Sample()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Sample("a", nope=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Sample("a", 0.5, {}, (), "extra")  # type: ignore[call-arg]


def test_classes_it_cannot_build_are_refused() -> None:
    with pytest.raises(TypeError, match="plain fields only"):

        @record
        class Checked:
            value: int

            def __post_init__(self) -> None:
                pass

    with pytest.raises(TypeError, match="plain fields only"):

        @record
        class KeywordOnly:
            value: int = dataclasses.field(kw_only=True)


def test_scan_results_are_built_with_every_field() -> None:
    result = ScanResult(score=0.7, label="INJECTION", risk=0.7, method="ml", windows=2)
    assert set(vars(result)) == {f.name for f in dataclasses.fields(ScanResult)}
    assert result.evolve(risk=0.1).risk == 0.1 and result.matched == ()
