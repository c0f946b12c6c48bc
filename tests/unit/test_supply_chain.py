"""Supply chain: nothing the worker reads from disk can run code, and its folders are private.

Model files are verified by sha256 before load (tests/integration/test_registry.py and
test_ml_stream.py show tampered files refused); here: no pickle anywhere on the run-time path,
a pickle planted in the result cache is never loaded, and the folders are owner-only.
"""

from __future__ import annotations

import ast
import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path

import diskcache

from llm_shield.models.cache import ResultCache, text_key
from llm_shield.registry.home import make_private_dir

REPO = Path(__file__).resolve().parents[2]
RUNTIME = ("streams", "models", "registry")  # ops/ builds models and is never imported by them
UNSAFE_MODULES = {
    "pickle",
    "cPickle",
    "_pickle",
    "joblib",
    "dill",
    "cloudpickle",
    "torch",
    "shelve",
}


def test_runtime_sources_import_no_pickle_loader() -> None:
    offenders = []
    for folder in RUNTIME:
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in tree.body:  # build tools only behind the commands that build
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "llm_shield.ops"
                ):
                    offenders.append(f"{path.relative_to(REPO)} imports {node.module} at load")
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    if name.split(".")[0] in UNSAFE_MODULES:
                        offenders.append(f"{path.relative_to(REPO)} imports {name}")
                if isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                    offenders.append(f"{path.relative_to(REPO)} passes allow_pickle")
    assert offenders == []


AUDIT = r"""
import pickle, sys
calls = []
def record(name):
    original = getattr(pickle, name)
    def wrapper(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)
    setattr(pickle, name, wrapper)
for name in ("load", "loads", "Unpickler"):
    record(name)
sys.addaudithook(lambda event, args: calls.append(event) if event == "pickle.find_class" else None)

from pathlib import Path
import orjson
from llm_shield.streams.config import load_settings
from llm_shield.streams.events import RawRecord
from llm_shield.streams.pipeline import Pipeline

names = ("prompt_injection", "toxicity", "sentiment")
overrides = {f"scanners.{n}.mode": "heuristic" for n in names}
settings = load_settings(None, {"cache_dir": sys.argv[1], **overrides})
pipeline = Pipeline(settings)
records = [RawRecord(value=orjson.dumps({"id": str(i), "text": f"hello {i}"})) for i in range(20)]
records.append(RawRecord(value=b"not json"))
pipeline.process(records)
from llm_shield.models.cache import ResultCache
cache = ResultCache(Path(sys.argv[1]) / "results", ttl_seconds=60, size_mb=4)
cache.set_many([("k", {"p": {"x": [0.5]}, "w": 1})])
assert cache.get_many(["k"])[0] == {"p": {"x": [0.5]}, "w": 1}
import llm_shield.streams.app, llm_shield.streams.worker, llm_shield.registry.install  # noqa
print("pickle calls:", calls)
unsafe = ("joblib", "torch", "sklearn", "dill")
print("loaded:", sorted(m for m in sys.modules if m.split(".")[0] in unsafe))
"""


def test_run_time_path_never_unpickles(tmp_path: Path) -> None:
    """The worker's modules, a scanned batch and result-cache reads and writes, audited."""
    done = subprocess.run(
        [sys.executable, "-c", AUDIT, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "pickle calls: []" in done.stdout
    assert "loaded: []" in done.stdout


class _Boom:
    def __reduce__(self):  # noqa: ANN204 - what a planted pickle would do
        return (os.system, ("touch /tmp/llm-shield-pwned-by-cache",))


def test_a_pickle_planted_in_the_result_cache_is_never_loaded(tmp_path: Path) -> None:
    marker = Path("/tmp/llm-shield-pwned-by-cache")
    marker.unlink(missing_ok=True)
    folder = tmp_path / "results"
    key = text_key("m@1:int8", "hello")
    ResultCache(folder, ttl_seconds=60, size_mb=4).close()
    planted = diskcache.Cache(str(folder))  # the default disk pickles whatever it is given
    planted.set(key, _Boom())
    planted.close()
    assert pickle.dumps(_Boom())  # the payload is real

    cache = ResultCache(folder, ttl_seconds=60, size_mb=4)
    assert cache.get_many([key]) == [None]
    assert not marker.exists()
    cache.set_many([(key, {"p": {"t": [1.0]}, "w": 1})])  # the real value replaces it
    assert cache.get_many([key]) == [{"p": {"t": [1.0]}, "w": 1}]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_cache_and_model_folders_are_created_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        ResultCache(tmp_path / "xdg" / "llm-shield" / "cache", ttl_seconds=60, size_mb=4).close()
        home = make_private_dir(tmp_path / "models" / "home")
    finally:
        os.umask(old)
    for path in (
        tmp_path / "xdg",
        tmp_path / "xdg" / "llm-shield",
        tmp_path / "xdg" / "llm-shield" / "cache",
        tmp_path / "models",
        home,
    ):
        assert _mode(path) == 0o700, path
