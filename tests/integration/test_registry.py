"""The registry against a local HTTP server serving real model files: fetch, verify, path, remove,
checksum mismatch, truncated downloads, a server that is gone, and two installs at once."""

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from llm_shield.models.classifier import OnnxClassifier
from llm_shield.registry.home import entry_path, model_dir
from llm_shield.registry.install import verify
from llm_shield.registry.manifest import FileEntry, load_entry, sha256_file
from tests.conftest import ModelServer as Server
from tests.conftest import llm_shield_command

pytestmark = pytest.mark.integration


@pytest.fixture
def served(starter_home: Path, tmp_path: Path):
    """Real starter files behind HTTP, and a catalog file describing them."""
    root = tmp_path / "www"
    root.mkdir()
    sentiment = load_entry(entry_path(starter_home, "sentiment/starter-minilm", "1"))
    profanity = load_entry(entry_path(starter_home, "toxicity/profanity-check", "1"))
    for entry, variant, folder in ((sentiment, "int8", "sentiment"), (profanity, "fp32", "tox")):
        (root / folder).mkdir()
        for item in entry.variants[variant]:
            shutil.copyfile(
                model_dir(starter_home, entry.id, "1") / variant / item.path,
                root / folder / item.path,
            )
    server = Server(root)

    def files(entry, variant: str, folder: str, *, bad_sha: bool = False) -> tuple[FileEntry, ...]:
        return tuple(
            FileEntry(
                f.path,
                ("0" * 64) if bad_sha else f.sha256,
                f.size,
                server.url(f"{folder}/{f.path}"),
            )
            for f in entry.variants[variant]
        )

    entries = [
        replace(
            sentiment,
            id="sentiment/served-minilm",
            variants={"int8": files(sentiment, "int8", "sentiment")},
        ),
        replace(
            profanity,
            id="toxicity/served-profanity",
            variants={"fp32": files(profanity, "fp32", "tox")},
        ),
        replace(
            profanity,
            id="toxicity/bad-checksum",
            variants={"fp32": files(profanity, "fp32", "tox", bad_sha=True)},
        ),
    ]
    catalog = tmp_path / "catalog.json"
    catalog.write_bytes(
        orjson.dumps({"schema": "llm-shield.catalog/v1", "models": [e.to_dict() for e in entries]})
    )
    yield server, catalog, tmp_path / "home"
    server.stop()


def cli(*args: str, catalog: Path, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            *llm_shield_command(),
            "models",
            *args,
            "--home",
            str(home),
            *(("--catalog", str(catalog)) if args[0] in ("fetch", "list") else ()),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def leftovers(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if "staging" in p.name or p.suffix == ".part"]


def one_line_error(result: subprocess.CompletedProcess, code: int, needle: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("llm-shield: error:") and needle in last, result.stderr


def test_fetch_installs_verified_files_that_the_runtime_loads(served) -> None:
    server, catalog, home = served
    result = cli("fetch", "sentiment/served-minilm", catalog=catalog, home=home)
    assert result.returncode == 0, result.stderr
    assert "installed sentiment/served-minilm@1" in result.stdout
    entry = load_entry(entry_path(home, "sentiment/served-minilm", "1"))
    folder = model_dir(home, entry.id, "1") / "int8"
    for item in entry.variants["int8"]:
        assert sha256_file(folder / item.path) == item.sha256
    assert verify(home, entry) == []
    probabilities = OnnxClassifier(entry, folder).predict(["I love it!", "I hate it."])
    assert probabilities["sentiment"].argmax(axis=1).tolist() == [2, 0]

    path = cli("path", "sentiment/served-minilm@int8", catalog=catalog, home=home)
    assert path.stdout.strip() == str(folder)
    listed = cli("list", "--json", catalog=catalog, home=home)
    rows = {r["id"]: r for r in map(orjson.loads, listed.stdout.splitlines())}
    assert rows["sentiment/served-minilm"]["installed"] == ["int8"]
    assert rows["toxicity/served-profanity"]["installed"] == []
    assert rows["prompt_injection/deberta-v3-base-prompt-injection-v2"]["needs"] == "network"

    again = cli("fetch", "sentiment/served-minilm", catalog=catalog, home=home)
    assert again.returncode == 0
    assert server.hits["/sentiment/model.onnx"] == 1  # already installed: nothing downloaded


def test_checksum_mismatch_deletes_the_file(served) -> None:
    _, catalog, home = served
    result = cli("fetch", "toxicity/bad-checksum", catalog=catalog, home=home)
    one_line_error(result, 5, "checksum mismatch")
    assert not (model_dir(home, "toxicity/bad-checksum", "1") / "fp32").exists()
    assert not entry_path(home, "toxicity/bad-checksum", "1").exists()
    assert leftovers(home) == []


def test_truncated_download_leaves_nothing(served) -> None:
    server, catalog, home = served
    server.truncate.add("/tox/model.onnx")
    result = cli("fetch", "toxicity/served-profanity", catalog=catalog, home=home)
    one_line_error(result, 5, "model.onnx")
    assert not (model_dir(home, "toxicity/served-profanity", "1") / "fp32").exists()
    assert leftovers(home) == []


def test_server_gone_is_one_line(served) -> None:
    server, catalog, home = served
    server.stop()
    result = cli("fetch", "toxicity/served-profanity", catalog=catalog, home=home)
    one_line_error(result, 5, "cannot download")
    assert leftovers(home) == []


def test_two_processes_install_once(served) -> None:
    server, catalog, home = served
    command = [
        *llm_shield_command(),
        "models",
        "fetch",
        "sentiment/served-minilm",
        "--home",
        str(home),
        "--catalog",
        str(catalog),
    ]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert second.wait(timeout=300) == 0, second.stderr.read()
    assert server.hits["/sentiment/model.onnx"] == 1
    assert server.hits["/sentiment/tokenizer.json"] == 1
    entry = load_entry(entry_path(home, "sentiment/served-minilm", "1"))
    assert verify(home, entry) == []


def test_one_changed_byte_is_caught_by_verify_and_at_load(served) -> None:
    _, catalog, home = served
    assert cli("fetch", "toxicity/served-profanity", catalog=catalog, home=home).returncode == 0
    entry = load_entry(entry_path(home, "toxicity/served-profanity", "1"))
    assert verify(home, entry, use_cache=True) == []  # warms the size+mtime cache
    model = model_dir(home, entry.id, "1") / "fp32" / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))

    result = cli("verify", "toxicity/served-profanity", catalog=catalog, home=home)
    assert result.returncode == 5
    assert str(model) in result.stderr and "sha256" in result.stderr
    assert "Traceback" not in result.stderr
    problems = verify(home, entry, use_cache=True)  # the worker's check at load
    assert [p.path for p in problems] == [model]


def test_remove_uninstalls(served) -> None:
    _, catalog, home = served
    assert cli("fetch", "toxicity/served-profanity", catalog=catalog, home=home).returncode == 0
    removed = cli("remove", "toxicity/served-profanity", catalog=catalog, home=home)
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert not model_dir(home, "toxicity/served-profanity", "1").exists()
    one_line_error(
        cli("path", "toxicity/served-profanity", catalog=catalog, home=home), 2, "not installed"
    )


def test_hub_and_unknown_models_are_one_line(served) -> None:
    _, catalog, home = served
    one_line_error(
        cli("fetch", "toxicity/toxic-bert", catalog=catalog, home=home), 5, "needs a network"
    )
    one_line_error(cli("fetch", "toxicity/nope", catalog=catalog, home=home), 2, "unknown model")
    one_line_error(
        cli("fetch", "toxicity/toxic-bert@fp64", catalog=catalog, home=home), 2, "unknown variant"
    )
