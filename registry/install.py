"""Installing, verifying and removing models in the model home.

Installs are atomic and safe under concurrency: one file lock per model, downloads to a staging
folder beside the final one, sha256 and size checked while streaming, a rename at the end. A
partial or corrupt file is never left where a loader would find it.
"""

from __future__ import annotations

import errno
import hashlib
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from filelock import FileLock, Timeout

from llm_shield.registry.catalog import CatalogItem
from llm_shield.registry.errors import ShieldError
from llm_shield.registry.home import entry_path, make_private_dir, model_dir
from llm_shield.registry.manifest import FileEntry, ModelEntry, dump_entry, sha256_file

CHUNK_BYTES = 1 << 20
VERIFIED_CACHE = ".verified.json"


class ModelNotInstalled(ShieldError):
    exit_code = 2


class ChecksumMismatch(ShieldError):
    exit_code = 5


class DownloadError(ShieldError):
    exit_code = 5


class NetworkRequired(ShieldError):
    exit_code = 5


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an installed file, in the user's words."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def lock_for(home: Path, model_id: str, version: str, timeout_seconds: float = 900) -> FileLock:
    locks = home / ".locks"
    make_private_dir(locks)
    return FileLock(
        str(locks / f"{model_id.replace('/', '__')}__{version}.lock"), timeout=timeout_seconds
    )


def _progress(total: int, label: str):  # noqa: ANN202 - tqdm's type
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc=label,
        file=sys.stderr,
        disable=None,
        mininterval=0.5,
    )


def _copy_verified(item: FileEntry, target: Path, timeout_seconds: float) -> None:
    """Stream ``item.source`` into ``target`` while hashing; raise and delete on any mismatch."""
    digest = hashlib.sha256()
    received = 0
    try:
        if item.source.startswith("file://"):
            stream = open(item.source[len("file://") :], "rb")  # noqa: SIM115
        elif item.source.startswith(("http://", "https://")):
            stream = urllib.request.urlopen(item.source, timeout=timeout_seconds)  # noqa: S310
        else:
            raise DownloadError(f"cannot fetch {item.path}: unsupported source {item.source}")
        with stream, open(target, "wb") as out, _progress(item.size, item.path) as bar:
            while chunk := stream.read(CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        target.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot download {item.source}: {reason}") from None
    except FileNotFoundError:
        target.unlink(missing_ok=True)
        raise DownloadError(f"source file not found: {item.source}") from None
    except OSError as exc:
        target.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise DownloadError(
                f"disk full while writing {target.name} to {target.parent}"
            ) from None
        raise DownloadError(f"cannot fetch {item.source}: {exc}") from None
    if received != item.size:
        target.unlink(missing_ok=True)
        raise DownloadError(
            f"download of {item.path} was cut short: got {received} of {item.size} bytes"
        )
    if digest.hexdigest() != item.sha256:
        target.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"checksum mismatch for {item.path} from {item.source}: expected {item.sha256[:16]}…, "
            f"got {digest.hexdigest()[:16]}…; the file was deleted"
        )


def installed_variants(home: Path, entry: ModelEntry) -> list[str]:
    base = model_dir(home, entry.id, entry.version)
    return [v for v in entry.variants if (base / v).is_dir()]


def install(
    item: CatalogItem,
    home: Path,
    variants: Sequence[str] | None = None,
    *,
    timeout_seconds: float = 60.0,
) -> ModelEntry:
    """Install the given variants (default: all) of a downloadable model, once, under a lock."""
    if item.kind == "hub":
        raise NetworkRequired(
            f"{item.id} comes from the Hugging Face hub ({item.source}); it needs a network: "
            f"where one exists, run `llm-shield models convert {item.source[len('hf://') :]} "
            f"--task {item.task}`"
        )
    if item.kind == "build" or item.entry is None:
        raise ModelNotInstalled(
            f"{item.id} is built locally: run `llm-shield models build` (or `make models`)"
        )
    entry = item.entry
    wanted = list(variants or entry.variants)
    for variant in wanted:
        if variant not in entry.variants:
            raise ModelNotInstalled(
                f"{entry.id} has no {variant} variant ({', '.join(entry.variants)})"
            )
    base = model_dir(home, entry.id, entry.version)
    try:
        with lock_for(home, entry.id, entry.version):
            make_private_dir(base)
            for variant in wanted:
                final = base / variant
                if final.is_dir() and not verify(home, entry, [variant]):
                    continue  # another process (or an earlier run) already installed it
                staging = Path(tempfile.mkdtemp(prefix=f".{variant}.staging-", dir=base))
                try:
                    for file in entry.variants[variant]:
                        _copy_verified(file, staging / file.path, timeout_seconds)
                    if final.exists():
                        shutil.rmtree(final)
                    staging.rename(final)
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
            dump_entry(entry, entry_path(home, entry.id, entry.version))
    except Timeout:
        raise DownloadError(f"another process holds the install lock of {entry.id}") from None
    return entry


def _cache_path(folder: Path) -> Path:
    return folder / VERIFIED_CACHE


def verify(
    home: Path,
    entry: ModelEntry,
    variants: Sequence[str] | None = None,
    *,
    use_cache: bool = False,
) -> list[Problem]:
    """Re-hash installed files against the manifest; ``use_cache`` skips files whose size and
    mtime are unchanged since they last hashed right (what the worker does at every start)."""
    problems: list[Problem] = []
    base = model_dir(home, entry.id, entry.version)
    for variant in variants or installed_variants(home, entry):
        folder = base / variant
        cache: dict[str, list] = {}
        if use_cache:
            try:
                cache = orjson.loads(_cache_path(folder).read_bytes())
            except (OSError, orjson.JSONDecodeError):
                cache = {}
        fresh: dict[str, list] = {}
        for item in entry.variants.get(variant, ()):
            path = folder / item.path
            try:
                stat = path.stat()
            except FileNotFoundError:
                problems.append(Problem(path, "missing"))
                continue
            if stat.st_size != item.size:
                problems.append(Problem(path, f"size {stat.st_size}, expected {item.size}"))
                continue
            stamp = [stat.st_size, stat.st_mtime_ns, item.sha256]
            if use_cache and cache.get(item.path) == stamp:
                fresh[item.path] = stamp
                continue
            if sha256_file(path) != item.sha256:
                problems.append(Problem(path, "sha256 does not match the manifest"))
                continue
            fresh[item.path] = stamp
        if use_cache and not any(p.path.parent == folder for p in problems):
            try:
                _cache_path(folder).write_bytes(orjson.dumps(fresh))
            except OSError:
                pass  # a read-only home still verifies; it just hashes again next time
    return problems


def remove(home: Path, model_id: str, version: str) -> bool:
    base = model_dir(home, model_id, version)
    if not base.exists():
        return False
    with lock_for(home, model_id, version):
        retired = base.with_name(f".{base.name}.removing")
        base.rename(retired)
        shutil.rmtree(retired, ignore_errors=True)
    return True


def installed_size(home: Path, entry: ModelEntry) -> int:
    base = model_dir(home, entry.id, entry.version)
    return sum(
        f.size
        for v in installed_variants(home, entry)
        for f in entry.variants[v]
        if (base / v / f.path).exists()
    )
