"""`models eval --sets ... --update`: a threshold-only rebuild re-measures the rows it can move
and keeps the others, and is refused when the graphs themselves changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from llm_shield.ops import evaluate
from llm_shield.ops.cli import cli

GRAPH = "multi_task/starter-minilm@1:int8"


def previous_report(content: str = "aaa") -> dict[str, Any]:
    return {
        "measured_on": "2026-12-07",
        "models": {GRAPH: {"content": content, "thresholds": {"prompt_injection": [0.5, 0.747]}}},
        "sets": {"heldout/indirect.jsonl": 209, "s-labs test": 2101},
        "injection": {
            "heldout/indirect.jsonl": {"default (ensemble, int8)": {"fp": 9}, "peer": {"fp": 30}},
            "s-labs test": {"default (ensemble, int8)": {"f1": 0.946}},
        },
        "toxicity": {},
        "sentiment": {"default (ensemble, int8)": {"accuracy": 0.82}},
        "speed": {"default (ensemble, int8)": 250.0},
        "targets": [{"target": "old"}],
    }


@pytest.fixture
def measured(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake_evaluate(home: Path, **kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return {
            "measured_on": "2026-12-08",
            "injection": {"heldout/indirect.jsonl": {"default (ensemble, int8)": {"fp": 4}}},
            "toxicity": {},
        }

    monkeypatch.setattr(evaluate, "evaluate_models", fake_evaluate)
    monkeypatch.setattr(
        evaluate,
        "graphs_measured",
        lambda home: {GRAPH: {"content": "aaa", "thresholds": {"prompt_injection": [0.5, 0.8]}}},
    )
    return calls


def test_only_the_named_sets_are_measured_and_replaced(
    tmp_path: Path, measured: list[dict[str, Any]]
) -> None:
    report = evaluate.update_report(tmp_path, previous_report(), ["heldout/indirect.jsonl"])
    assert measured == [{"peers": (), "only": ["heldout/indirect.jsonl"]}]
    rows = report["injection"]["heldout/indirect.jsonl"]
    assert rows["default (ensemble, int8)"] == {"fp": 4}
    assert rows["peer"] == {"fp": 30}  # a row the update did not measure stays
    assert report["injection"]["s-labs test"] == {"default (ensemble, int8)": {"f1": 0.946}}
    assert report["sentiment"] == previous_report()["sentiment"]
    assert report["measured_on"] == "2026-12-07"  # the full run's date
    assert report["updates"] == [
        {"measured_on": "2026-12-08", "sets": ["heldout/indirect.jsonl"], "graphs_checked": True}
    ]
    assert report["models"][GRAPH]["thresholds"]["prompt_injection"] == [0.5, 0.8]
    assert "targets" not in report  # recomputed from the merged rows by the caller


def test_changed_graphs_are_refused(tmp_path: Path, measured: list[dict[str, Any]]) -> None:
    with pytest.raises(evaluate.StaleReport, match=GRAPH):
        evaluate.update_report(tmp_path, previous_report("bbb"), ["heldout/indirect.jsonl"])
    assert measured == []


def test_a_report_without_graphs_is_updated_and_says_so(
    tmp_path: Path, measured: list[dict[str, Any]]
) -> None:
    old = previous_report()
    del old["models"]
    report = evaluate.update_report(tmp_path, old, ["heldout/indirect.jsonl"])
    assert report["updates"][-1]["graphs_checked"] is False


def test_the_cli_wants_both_options_and_known_sets(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(orjson.dumps(previous_report()))
    runner = CliRunner()
    alone = runner.invoke(cli, ["models", "eval", "--sets", "heldout/indirect.jsonl"])
    assert alone.exit_code == 2 and "--sets and --update go together" in alone.output
    unknown = runner.invoke(cli, ["models", "eval", "--sets", "nope", "--update", str(path)])
    assert unknown.exit_code == 2 and "nope" in unknown.output
    assert "Traceback" not in unknown.output
