"""The bench's paired rounds: what they send and how their figures are summarised."""

from __future__ import annotations

from llm_shield.ops.bench import PAIRED_ROUND_TEXTS, _paired_summary, build_events, paired_pool


def test_a_paired_round_sends_distinct_texts_even_from_a_short_stream() -> None:
    # a quick run's stream: a few hundred distinct texts. Sent three times over, the worker
    # (which scores a text repeated within a batch once) did less work than the raw model.
    seen: set[str] = set()
    stream = [e for e in build_events(600) if not (e["text"] in seen or seen.add(e["text"]))]
    assert len(stream) < PAIRED_ROUND_TEXTS

    pool = paired_pool(stream)

    texts = [e["text"] for e in pool]
    assert len(pool) == PAIRED_ROUND_TEXTS
    assert len(set(texts)) == len(texts)
    assert len({e["id"] for e in pool}) == len(pool)
    assert pool[: len(stream)] == stream
    assert {e["kind"] for e in pool} == {"prompt", "response"}


def test_a_long_enough_stream_is_sent_as_it_is() -> None:
    stream = [{"id": str(i), "kind": "prompt", "text": f"text {i}"} for i in range(40)]
    assert paired_pool(stream, size=40) == stream


def test_the_summary_divides_the_worker_and_the_replay_by_the_raw_model_of_their_round() -> None:
    rounds = [
        {"raw": 400.0, "replay": 380.0, "kafka": 360.0, "one_at_a_time": 80.0},
        {"raw": 500.0, "replay": 400.0, "kafka": 400.0, "one_at_a_time": 100.0},
        {"raw": 200.0, "replay": 210.0, "kafka": 190.0, "one_at_a_time": 50.0},
    ]

    summary = _paired_summary(rounds)

    assert summary["ratios"] == [0.9, 0.8, 0.95]
    assert summary["median_ratio"] == 0.9
    assert summary["replay_ratios"] == [0.95, 0.8, 1.05]
    assert summary["median_replay_ratio"] == 0.95
    assert summary["vs_one_at_a_time"] == [4.5, 4.0, 3.8]
    assert summary["median_vs_one_at_a_time"] == 4.0
    assert "vs_one_at_a_time_same_windows" not in summary
