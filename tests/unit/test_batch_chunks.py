"""How a batch's rows are split into session runs: every row once, in order, within the row
limit, and with less padding than fixed runs whenever short and long rows meet; how the runs are
spread over runs side by side, and how a process's threads are split between them."""

import random

from llm_shield.models.classifier import CALL_COST_TOKENS, padding_aware_chunks, spread
from llm_shield.models.session import run_threads


def padded(lengths: list[int], chunks: list[tuple[int, int]]) -> int:
    return sum((end - start) * max(lengths[start:end]) for start, end in chunks)


def test_chunks_cover_every_row_once_in_order_within_the_limit() -> None:
    rng = random.Random(3)
    for _ in range(200):
        lengths = sorted(rng.randint(1, 256) for _ in range(rng.randint(0, 120)))
        limit = rng.choice((1, 4, 32))
        chunks = padding_aware_chunks(lengths, limit)
        flat = [i for start, end in chunks for i in range(start, end)]
        assert flat == list(range(len(lengths)))
        assert all(0 < end - start <= limit for start, end in chunks)


def test_short_and_long_rows_are_not_padded_together() -> None:
    lengths = sorted([12] * 40 + [250] * 3)
    chunks = padding_aware_chunks(lengths, 32)
    fixed = [(s, min(s + 32, len(lengths))) for s in range(0, len(lengths), 32)]
    assert padded(lengths, chunks) < padded(lengths, fixed) / 2
    assert (40, 43) in chunks  # the three long rows run on their own


def test_equal_rows_fill_runs_up_to_the_limit() -> None:
    chunks = padding_aware_chunks([20] * 64, 32)
    assert chunks == [(0, 32), (32, 64)]
    assert CALL_COST_TOKENS > 0


def test_spread_keeps_every_row_once_and_hands_out_the_costliest_runs_first() -> None:
    rng = random.Random(5)
    for _ in range(200):
        lengths = sorted(rng.randint(1, 256) for _ in range(rng.randint(1, 120)))
        runs = rng.choice((1, 2, 3, 8))
        chunks = spread(padding_aware_chunks(lengths, 32), lengths, runs)
        assert sorted(i for start, end in chunks for i in range(start, end)) == list(
            range(len(lengths))
        )
        costs = [(end - start) * lengths[end - 1] for start, end in chunks]
        assert costs == sorted(costs, reverse=True)
        assert len(chunks) >= min(runs, len(lengths))


def test_a_lone_batch_is_halved_for_two_runs_and_a_lone_row_is_not() -> None:
    assert sorted(spread([(0, 10)], [5] * 10, 2)) == [(0, 5), (5, 10)]
    assert spread([(0, 1)], [7], 2) == [(0, 1)]
    assert spread([(0, 10)], [5] * 10, 1) == [(0, 10)]


def test_threads_go_one_per_run_unless_runs_are_set() -> None:
    assert run_threads(2, 0) == (2, 1)
    assert run_threads(4, 2) == (2, 2)
    assert run_threads(2, 1) == (1, 2)
    assert run_threads(1, 4) == (4, 1)
    runs, threads = run_threads(0, 0)
    assert runs >= 1 and threads == 1
