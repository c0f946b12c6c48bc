"""Score texts with the NanoGuard peer (PyPI: metatronnanoguard, import name nanoguard).

EVALUATION TOOLING ONLY: the peer loads its tokenizer with pickle.load(). Before
the peer is constructed, this script checks the SHA-256 of the bundled assets
against the values of the audited 0.1.0 wheel and statically scans the pickle
(pickletools, nothing executed) so that it may reference only
tiktoken.core.Encoding. It refuses to run otherwise.

stdin : JSON lines, each {"text": "..."} (blank lines are ignored)
stdout: JSON lines in the same order, each
        {"score": float in [0,1], "flagged": bool}

score   = ScanResult.injection_score (softmax probability of class 1 = injection)
flagged = ScanResult.is_injection (score >= threshold; peer default 0.5)

Texts are scored with NanoGuard.scan_batch() in batches of --batch-size
(default 1 on CPU, 32 on CUDA; scores are identical for any batch size, since
the peer pads every text to 512 tokens). The peer truncates every text to its
first 512 tokens (BOS + 511); there is no windowing. Input is read in batches,
so an interactive caller that writes one line and waits needs --batch-size 1.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import pickletools
import sys

# SHA-256 of the assets in metatronnanoguard-0.1.0-py3-none-any.whl (audited).
PINNED = {
    "tokenizer.pkl": "e81fa2a4d6202a18d05a50dfe8eb101042512056b2d0492c929e8fea4fa02246",
    "model.pt": "80a6f31ce7ff6ccbeff0aa5867ae75ae4b33568b40e83bb5968ed6677ec1262e",
}
ALLOWED_GLOBALS = {("tiktoken.core", "Encoding")}


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _pickle_globals(data: bytes) -> set:
    """Static scan of a pickle: every global it would import (nothing is executed).

    Conservative: a STACK_GLOBAL whose two operands are not string literals
    pushed immediately before it (MEMOIZE aside) is reported as ("?", "?")."""
    found, recent = set(), []  # recent: last pushed operands (str or None)
    for op, arg, _pos in pickletools.genops(data):
        name = op.name
        if name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            recent.append(arg)
        elif name == "MEMOIZE":
            continue
        elif name in ("GLOBAL", "INST"):
            mod, attr = arg.split(" ", 1)
            found.add((mod, attr))
            recent.append(None)
        elif name == "STACK_GLOBAL":
            if len(recent) >= 2 and isinstance(recent[-2], str) and isinstance(recent[-1], str):
                found.add((recent[-2], recent[-1]))
            else:
                found.add(("?", "?"))
            recent.append(None)
        elif name in ("EXT1", "EXT2", "EXT4"):
            found.add(("copyreg-extension", str(arg)))
            recent.append(None)
        else:
            recent.append(None)
        del recent[:-2]
    return found


def _verify_assets() -> None:
    import importlib.util

    # find_spec on the top-level name locates the package without importing it
    spec = importlib.util.find_spec("nanoguard")
    if spec is None or not spec.origin:
        sys.exit("nanoguard is not installed in this interpreter")
    adir = os.path.join(os.path.dirname(spec.origin), "assets")
    for name, want in PINNED.items():
        got = _sha256(os.path.join(adir, name))
        if got != want:
            sys.exit(f"refusing to load: {name} sha256 {got} != pinned {want}")
    with open(os.path.join(adir, "tokenizer.pkl"), "rb") as fh:
        globs = _pickle_globals(fh.read())
    if not globs <= ALLOWED_GLOBALS:
        sys.exit(f"refusing to load: tokenizer.pkl references {sorted(globs - ALLOWED_GLOBALS)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="texts per scan_batch() call (default: 1 on cpu, 32 on cuda; "
        "every text is padded to 512 tokens, so on CPU batching does not help)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: the host is shared)",
    )
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    ap.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="override the peer's decision threshold (default: peer's own, 0.5)",
    )
    args = ap.parse_args()

    _verify_assets()
    import warnings

    # torch-cpu warns once when numpy is absent; numpy is not needed here.
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch

    torch.set_num_threads(max(1, args.threads))
    from nanoguard import NanoGuard

    ng = (
        NanoGuard(device=args.device)
        if args.threshold is None
        else NanoGuard(device=args.device, threshold=args.threshold)
    )

    bs = args.batch_size or (1 if ng.device == "cpu" else 32)
    bs = max(1, bs)
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="strict")
    out = sys.stdout

    def flush(batch: list) -> None:
        if not batch:
            return
        for r in ng.scan_batch(batch):
            out.write(
                json.dumps({"score": float(r.injection_score), "flagged": bool(r.is_injection)})
                + "\n"
            )
        out.flush()
        batch.clear()

    batch: list = []
    for lineno, line in enumerate(stdin, 1):
        if not line.strip():
            continue
        try:
            text = json.loads(line)["text"]
        except (ValueError, KeyError, TypeError) as exc:
            sys.exit(f"line {lineno}: expected a JSON object with a 'text' string ({exc})")
        if not isinstance(text, str):
            sys.exit(f"line {lineno}: 'text' must be a string")
        batch.append(text)
        if len(batch) >= bs:
            flush(batch)
    flush(batch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
