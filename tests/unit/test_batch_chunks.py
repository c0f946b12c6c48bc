"""How a batch's rows are split into session runs: every row once, in order, within the row
limit, and with less padding than fixed runs whenever short and long rows meet."""

import random

from llm_shield.models.classifier import CALL_COST_TOKENS, padding_aware_chunks


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
