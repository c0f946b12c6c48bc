"""Score texts with the SecureVector Guardian peer (PyPI: securevector-guardian-model).

stdin : JSON lines, each {"text": "..."} (blank lines are ignored)
stdout: JSON lines in the same order, each
        {"score": float in [0,1], "flagged": bool}

score   = the peer's "malicious_score" after its own long-document windowing and
          base64/hex/URL decode-and-rescan (svguardian.window.predict_windowed,
          the same path its public serve.analyze() uses). It is the total
          probability mass of all 7 non-benign classes (prompt_injection,
          jailbreak, data_exfiltration, pii, social_engineering,
          harmful_content, model_attack), rounded by the peer to 4 decimals.
flagged = the peer's own verdict ("malicious"), i.e. analyze()["is_threat"].
          Equivalent to score >= the bundle's calibrated threshold (~0.8069).

--detail adds "category" (top attack class when flagged, else null),
"top3" and "windows_scanned" to each output line.

Only the peer's public API is called; nothing here touches the network (the
bundled model inside the wheel is always used; SV_GUARDIAN_RUNTIME is ignored
unless --allow-env-runtime is given, so a stray env var cannot swap models and
no code path can reach the GitHub download fallback).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detail", action="store_true", help="add category/top3/windows_scanned")
    ap.add_argument(
        "--allow-env-runtime",
        action="store_true",
        help="honour SV_GUARDIAN_RUNTIME (default: always use the in-wheel bundle)",
    )
    args = ap.parse_args()

    from svguardian import resolve_runtime
    from svguardian.model.pure_infer import PureGuardian
    from svguardian.window import predict_windowed

    if not args.allow_env_runtime:
        os.environ.pop("SV_GUARDIAN_RUNTIME", None)
    # download=False: never fall back to the GitHub release download.
    path = resolve_runtime(download=False)
    if not os.path.exists(path):
        sys.exit(f"svguardian model bundle not found at {path}")
    guardian = PureGuardian.load(path)  # verifies the .sha256 sidecar

    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="strict")
    out = sys.stdout
    for lineno, line in enumerate(stdin, 1):
        if not line.strip():
            continue
        try:
            text = json.loads(line)["text"]
        except (ValueError, KeyError, TypeError) as exc:
            sys.exit(f"line {lineno}: expected a JSON object with a 'text' string ({exc})")
        if not isinstance(text, str):
            sys.exit(f"line {lineno}: 'text' must be a string")
        pred = predict_windowed(guardian, text)
        rec = {"score": float(pred["malicious_score"]), "flagged": pred["verdict"] == "malicious"}
        if args.detail:
            rec["category"] = pred["category"]
            rec["top3"] = pred["top3"]
            rec["windows_scanned"] = pred.get("windows_scanned", 1)
        out.write(json.dumps(rec) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
