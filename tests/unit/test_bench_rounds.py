"""The bench's paired rounds: what they send and how their figures are summarised."""

from __future__ import annotations

import asyncio

from llm_shield.ops.bench import (
    PAIRED_ROUND_TEXTS,
    _context_summary,
    _paced,
    _paired_summary,
    paired_pool,
)


def test_a_paired_round_sends_the_same_distinct_texts_in_quick_and_full_runs() -> None:
    # a quick run's stream holds a few hundred distinct texts, a full run's two thousand; the
    # rounds of both time one pool, so their ratios differ by the machine alone
    pool = paired_pool()

    texts = [e["text"] for e in pool]
    assert len(pool) == PAIRED_ROUND_TEXTS
    assert len(set(texts)) == len(texts)
    assert len({e["id"] for e in pool}) == len(pool)
    assert {e["kind"] for e in pool} == {"prompt", "response"}
    assert paired_pool() == pool


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


def test_the_worker_is_divided_by_the_mean_of_the_raw_model_runs_around_it() -> None:
    # a machine slowing down through a round: the raw model before the worker ran fast, the one
    # after it slow; the worker's ratio is to their mean, not to the fast run alone
    rounds = [
        {"replay": 380.0, "raw": 500.0, "kafka": 360.0, "raw_after": 300.0},
        {"raw_after": 400.0, "kafka": 380.0, "raw": 400.0, "replay": 400.0},
        {"replay": 200.0, "raw": 250.0, "kafka": 180.0, "raw_after": 150.0},
    ]

    summary = _paired_summary(rounds)

    assert summary["ratios"] == [0.9, 0.95, 0.9]
    assert summary["median_ratio"] == 0.9
    assert summary["replay_ratios"] == [0.95, 1.0, 1.0]
    assert summary["raw_model_texts_per_s"] == [500.0, 400.0, 250.0]
    assert summary["raw_model_after_texts_per_s"] == [300.0, 400.0, 150.0]


def test_every_other_round_runs_in_reverse_order_with_the_worker_between_two_raw_runs(
    monkeypatch,
) -> None:
    from llm_shield.ops import bench

    order: list[str] = []

    def timer(name: str, rate: float):  # noqa: ANN202 - a test double
        def run() -> float:
            order.append(name)
            return rate

        return run

    class Collected:
        events_per_s = 90.0

    async def publish(settings, events):  # noqa: ANN001, ANN202 - the bench's signature
        order.append("kafka")
        return Collected()

    monkeypatch.setattr(bench, "_publish_and_collect", publish)
    events = [{"id": "a", "kind": "prompt", "text": "hello"}]
    timers = {"replay": timer("replay", 95.0), "raw": timer("raw", 100.0)}

    rounds = bench._paired_rounds(None, events, 2, timers)

    assert order == ["replay", "raw", "kafka", "raw", "raw", "kafka", "raw", "replay"]
    assert rounds[0] == {"replay": 95.0, "raw": 100.0, "kafka": 90.0, "raw_after": 100.0}
    assert bench._paired_summary(rounds)["ratios"] == [0.9, 0.9]


def test_a_context_case_costs_against_the_mean_of_the_off_runs_around_it_in_its_round() -> None:
    # (events/s, CPU ms per event) per step; the machine slows within round two and is slow
    # all through round three: the costs stay those of each round, not of the drift
    def round_(off, on, conv, unjoined, off_after):  # noqa: ANN001, ANN202 - rows of the test
        return {
            "off": off,
            "on": on,
            "on_conversations": conv,
            "on_conversations_unjoined": unjoined,
            "off_after": off_after,
        }

    rounds = [
        round_((1000.0, 1.0), (980.0, 1.02), (900.0, 1.1), (950.0, 1.05), (1000.0, 1.0)),
        round_((1200.0, 1.0), (950.0, 1.0), (855.0, 1.2), (1000.0, 1.0), (800.0, 1.0)),
        round_((500.0, 2.0), (500.0, 2.0), (460.0, 2.2), (480.0, 2.1), (500.0, 2.0)),
    ]

    summary = _context_summary("kafka", rounds)

    assert summary["kafka_cost_rounds"]["cost"]["on"] == [0.02, 0.05, 0.0]
    assert summary["kafka_cost_rounds"]["cost"]["on_conversations"] == [0.1, 0.145, 0.08]
    assert summary["kafka_cost"] == {
        "kafka": 0.02,
        "kafka_conversations": 0.1,
        "kafka_conversations_unjoined": 0.04,
    }
    assert summary["kafka_cpu_cost"] == {
        "kafka": 0.0,
        "kafka_conversations": 0.1,
        "kafka_conversations_unjoined": 0.05,
    }
    assert summary["kafka_events_per_s"]["off"] == 1000.0
    assert summary["kafka_events_per_s"]["on_conversations"] == 855.0
    assert summary["kafka_runs"]["events_per_s"]["off_after"] == [1000.0, 800.0, 500.0]


def test_paced_checks_leave_refused_ones_out_of_the_latencies() -> None:
    # a gateway shedding load answers 503 at once: timing those would flatter its latency
    answered: list[int] = []

    async def check(index: int) -> bool | None:
        await asyncio.sleep(0.01)
        if index % 3 == 0:
            return False
        answered.append(index)
        return None if index % 2 else True

    latencies, seconds = asyncio.run(_paced(9, 1000.0, check))
    assert sorted(answered) == [1, 2, 4, 5, 7, 8]
    assert len(latencies) == 6
    assert all(value >= 10.0 for value in latencies)
    assert seconds > 0
