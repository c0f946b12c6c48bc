"""Hostile input: 10,000 malformed records among 1,000 valid events, through the real worker.

Exactly one verdict per valid event, one dead letter (with a reason) per malformed record, the
worker alive and its memory flat afterwards.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import orjson
import pytest

from llm_shield.streams.events import REASONS
from tests.conftest import WorkerProcess, make_topic_set, produce, read_json, sample_texts

pytestmark = pytest.mark.integration


def hostile(rng: random.Random, index: int) -> bytes | None:
    """One malformed record; the kinds take turns, the contents are random."""
    kind = index % 12
    if kind == 0:
        return rng.randbytes(rng.randint(1, 300))
    if kind == 1:
        return b'{"id": "h%d", "text": "' % index + b"\xc3\x28\xff" * rng.randint(1, 50) + b'"}'
    if kind == 2:
        whole = orjson.dumps({"id": f"h{index}", "text": "cut short " * 20})
        return whole[: rng.randint(1, len(whole) - 1)]
    if kind == 3:
        depth = rng.choice([40, 500, 5000])
        return (
            b'{"id": "h%d", "text": "x", "metadata": ' % index + b"[" * depth + b"]" * depth + b"}"
        )
    if kind == 4:
        return orjson.dumps({"id": f"h{index}", "text": rng.choice([1, 2.5, True, [], {}])})
    if kind == 5:
        return orjson.dumps({"id": rng.choice([7, None, [], {"a": 1}, ""]), "text": "hello"})
    if kind == 6:
        return b'{"id": "h%d", "text": "nul\x00byte"}' % index  # raw NUL: not valid JSON
    if kind == 7:
        return b"\x00" * rng.randint(1, 64)
    if kind == 8:
        return None  # a tombstone: no value at all
    if kind == 9:
        return b""
    if kind == 10:
        return orjson.dumps([{"id": f"h{index}", "text": "an array, not an object"}])
    return orjson.dumps({"id": f"h{index}", "text": "ok", "kind": rng.choice(["x", 3, ""])})


def test_ten_thousand_malformed_records_among_a_thousand_valid(broker, tmp_path) -> None:
    topics = make_topic_set(broker.bootstrap, partitions=3, cache_dir=str(tmp_path / "cache"))
    settings = topics.settings
    rng = random.Random(404)
    texts = sample_texts()
    valid = [
        orjson.dumps({"id": f"ok-{i:04d}", "text": rng.choice(texts), "metadata": {"n": i}})
        for i in range(1_000)
    ]
    bad: list[bytes | None] = [hostile(rng, i) for i in range(9_995)]
    huge = b'{"id": "big", "text": "' + b"A" * (10 * 1024 * 1024) + b'"}'
    bad += [huge] * 5  # five 10 MB values
    # A tombstone (no value) needs a key; give it an empty one.
    records: list[tuple[bytes | None, bytes | None]] = [
        (b"" if v is None else None, v) for v in bad
    ]
    records += [(b"", v) for v in valid]  # empty keys on the valid ones
    rng.shuffle(records)
    first, second = records[: len(records) // 2], records[len(records) // 2 :]
    prompts = settings.topics.prompts

    with WorkerProcess(topics) as worker:
        asyncio.run(produce(settings, [(prompts, v) for _, v in first], keys=[k for k, _ in first]))
        valid_set = set(valid)
        half_valid = sum(1 for _, v in first if v in valid_set)
        read_json(settings, settings.topics.verdicts, half_valid, timeout_seconds=120)
        rss_half = worker.rss_mb()
        asyncio.run(
            produce(settings, [(prompts, v) for _, v in second], keys=[k for k, _ in second])
        )
        verdicts = read_json(settings, settings.topics.verdicts, 1_000, timeout_seconds=180)
        dead = read_json(settings, settings.topics.deadletter, 10_000, timeout_seconds=180)
        rss_end = worker.rss_mb()
        # Nothing more arrives: exactly one output per input.
        extra = read_json(settings, settings.topics.verdicts, 1_001, timeout_seconds=3)

        reasons = Counter(d["reason"] for d in dead)
        print(
            f"\n[hostile input] verdicts={len(verdicts)}, dead_letters={len(dead)}, "
            f"reasons={dict(reasons)}, rss_mb half={rss_half:.0f} end={rss_end:.0f}"
        )
        assert sorted(v["id"] for v in verdicts) == [f"ok-{i:04d}" for i in range(1_000)]
        assert len(extra) == 1_000
        assert len(dead) == 10_000
        assert set(reasons) <= set(REASONS)
        assert reasons["too_large"] >= 5 and reasons["invalid_utf8"] > 0 and reasons["empty"] > 0
        assert all(d["raw"] is None or len(d["raw"].encode()) <= 4096 for d in dead)
        assert worker.process.poll() is None
        assert rss_end - rss_half < 150, (rss_half, rss_end)
    assert worker.process.returncode == 0
