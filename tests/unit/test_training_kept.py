"""A rebuild whose training inputs did not change takes this machine's kept weights instead of
training for an hour again; any change to those inputs trains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training module needs the build extra")

from llm_shield.ops import train  # noqa: E402
from llm_shield.ops.encoder import Encoder  # noqa: E402

ROWS = [[101, 2000 + i, 3000 + i, 102] for i in range(6)]
CLASSES = {"prompt_injection": 2}
CONFIG = train.TrainConfig(batch_size=2, epochs=1.0)
INPUTS = {"encoder/model.safetensors": "ab" * 32}


def labels(*values: int) -> dict[str, np.ndarray]:
    return {"prompt_injection": np.array(values, dtype=np.int64)}


@pytest.fixture
def trainings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the real training runs (the spy calls through to ``fine_tune``)."""
    calls: list[int] = []
    real = train.fine_tune

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "fine_tune", counted)
    return calls


def run(folder: Path | None, y: dict[str, np.ndarray], lines: list[str]) -> tuple:
    torch.manual_seed(len(lines))  # every call starts from a different random encoder
    encoder = Encoder()
    heads, figures = train.fine_tune_kept(
        encoder, ROWS, y, CLASSES, CONFIG, lines.append, folder=folder, inputs=INPUTS
    )
    return encoder, heads, figures


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    left, right = a.state_dict(), b.state_dict()
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


def test_the_same_inputs_take_the_kept_weights(tmp_path: Path, trainings: list[int]) -> None:
    lines: list[str] = []
    first_encoder, first_heads, first_figures = run(tmp_path, labels(0, 1, 0, 1, 0, 1), lines)
    assert len(trainings) == 1
    assert len(list(tmp_path.glob("training-*.pt"))) == 1
    encoder, heads, figures = run(tmp_path, labels(0, 1, 0, 1, 0, 1), lines)
    assert len(trainings) == 1  # not trained again
    assert same_weights(encoder, first_encoder)
    assert same_weights(heads, first_heads)
    assert figures["steps"] == first_figures["steps"]
    assert figures["kept_run"] in lines[-1] and "training skipped" in lines[-1]
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())


def test_a_changed_label_or_setting_trains_again(tmp_path: Path, trainings: list[int]) -> None:
    lines: list[str] = []
    run(tmp_path, labels(0, 1, 0, 1, 0, 1), lines)
    run(tmp_path, labels(0, 1, 0, 1, 1, 1), lines)
    assert len(trainings) == 2
    key = train.training_key(ROWS, labels(0, 1, 0, 1, 0, 1), CLASSES, CONFIG, INPUTS)
    assert key != train.training_key(
        ROWS, labels(0, 1, 0, 1, 0, 1), CLASSES, train.TrainConfig(epochs=1.0), INPUTS
    )
    assert key != train.training_key(
        ROWS, labels(0, 1, 0, 1, 0, 1), CLASSES, CONFIG, {"encoder/model.safetensors": "cd" * 32}
    )
    assert key != train.training_key(
        [*ROWS[:-1], [101, 7, 102]], labels(0, 1, 0, 1, 0, 1), CLASSES, CONFIG, INPUTS
    )


def test_an_unreadable_kept_file_is_trained_over(tmp_path: Path, trainings: list[int]) -> None:
    lines: list[str] = []
    run(tmp_path, labels(0, 1, 0, 1, 0, 1), lines)
    (kept,) = tmp_path.glob("training-*.pt")
    kept.write_bytes(b"not a torch file")
    run(tmp_path, labels(0, 1, 0, 1, 0, 1), lines)
    assert len(trainings) == 2
    assert any("unreadable" in line for line in lines)
    assert kept.stat().st_size > 1000  # written again


def test_retrain_reads_and_keeps_nothing(tmp_path: Path, trainings: list[int]) -> None:
    lines: list[str] = []
    run(None, labels(0, 1, 0, 1, 0, 1), lines)
    run(None, labels(0, 1, 0, 1, 0, 1), lines)
    assert len(trainings) == 2
    assert not list(tmp_path.iterdir())


def test_only_the_last_runs_are_kept(tmp_path: Path, trainings: list[int]) -> None:
    lines: list[str] = []
    for flipped in range(train.KEPT_RUNS + 1):
        values = [0, 1, 0, 1, 0, 1]
        values[flipped] = 1 - values[flipped]
        run(tmp_path, labels(*values), lines)
    assert len(trainings) == train.KEPT_RUNS + 1
    assert len(list(tmp_path.glob("training-*.pt"))) == train.KEPT_RUNS
