"""Manifest entries: validated on load, every error names the field."""

import copy
from pathlib import Path

import pytest

from llm_shield.registry.manifest import (
    ManifestError,
    dump_entry,
    entry_from_dict,
    load_entry,
    sha256_file,
)

GOOD = {
    "schema": "llm-shield.manifest/v1",
    "id": "prompt_injection/tiny",
    "version": "1",
    "task": "prompt_injection",
    "architecture": "test",
    "input_kind": "token_ids",
    "outputs": {
        "prompt_injection": {
            "output": "logits",
            "labels": ["SAFE", "INJECTION"],
            "postprocess": "softmax",
            "positive_label": "INJECTION",
            "threshold": 0.5,
        }
    },
    "license": "MIT",
    "origin": "test",
    "tokenizer": {"file": "tokenizer.json", "max_length": 128},
    "variants": {
        "fp32": [{"path": "model.onnx", "sha256": "a" * 64, "size": 10, "source": "build://x"}]
    },
}


def broken(path: list, value) -> dict:
    data = copy.deepcopy(GOOD)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


def test_good_entry_round_trips(tmp_path: Path) -> None:
    entry = entry_from_dict(GOOD)
    assert entry.name == "tiny" and entry.ref("fp32") == "prompt_injection/tiny@1:fp32"
    dump_entry(entry, tmp_path / "model.json")
    assert load_entry(tmp_path / "model.json") == entry


def test_a_response_operating_point_is_kept_and_optional(tmp_path: Path) -> None:
    assert entry_from_dict(GOOD).outputs["prompt_injection"].response_threshold is None
    tuned = broken(["outputs", "prompt_injection", "response_threshold"], 0.72)
    entry = entry_from_dict(tuned)
    assert entry.outputs["prompt_injection"].response_threshold == 0.72
    dump_entry(entry, tmp_path / "model.json")
    assert load_entry(tmp_path / "model.json") == entry


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (["task"], "spam", "task"),
        (["id"], "toxicity/tiny", "id"),
        (["input_kind"], "pixels", "input_kind"),
        (["outputs", "prompt_injection", "postprocess"], "tanh", "postprocess"),
        (["outputs", "prompt_injection", "positive_label"], "EVIL", "positive_label"),
        (["outputs", "prompt_injection", "threshold"], 2, "threshold"),
        (["outputs", "prompt_injection", "response_threshold"], 1.5, "response_threshold"),
        (["outputs", "prompt_injection", "response_threshold"], "high", "response_threshold"),
        (["variants", "fp8"], [], "fp8"),
        (["variants", "fp32", 0, "sha256"], "xyz", "sha256"),
        (["variants", "fp32", 0, "path"], "../escape.onnx", "path"),
        (["tokenizer"], KeyError, "tokenizer"),
        (["license"], KeyError, "license"),
        (["schema"], "llm-shield.manifest/v9", "schema"),
    ],
)
def test_bad_entries_name_the_field(path: list, value, needle: str) -> None:
    with pytest.raises(ManifestError, match=needle):
        entry_from_dict(broken(path, value))


def test_unreadable_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not found"):
        load_entry(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_entry(bad)


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
