"""Batch tokenisation over Hugging Face ``tokenizers`` (tokenizer.json), returning numpy feeds.

Long texts become overlapping windows of at most ``max_length`` tokens (special tokens included),
so an injection at the end of a long document is still seen; batches pad to their longest row,
not to max_length, so short texts cost little.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


class TextTokenizer:
    def __init__(
        self,
        path: Path,
        *,
        max_length: int,
        truncation_side: str = "right",
        overlap_tokens: int = 32,
    ) -> None:
        self.path = path
        self.max_length = max_length
        self.overlap_tokens = min(overlap_tokens, max_length // 4)
        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.enable_truncation(
            max_length=max_length, stride=self.overlap_tokens, direction=truncation_side
        )
        self._tokenizer.no_padding()
        pad_id = self._tokenizer.token_to_id("[PAD]")
        if pad_id is None:
            pad_id = self._tokenizer.token_to_id("<pad>")
        self.pad_id = 0 if pad_id is None else pad_id

    def windows(self, texts: Sequence[str], max_windows: int = 64) -> list[list[list[int]]]:
        """Token ids per window, per text. Beyond ``max_windows`` the middle is dropped: the
        first windows and the last one are kept, since attacks hide at either end."""
        out = []
        for encoding in self._tokenizer.encode_batch(list(texts)):
            rows = [encoding.ids] + [o.ids for o in encoding.overflowing]
            if len(rows) > max_windows:
                rows = rows[: max_windows - 1] + rows[-1:]
            out.append(rows)
        return out

    def lengths(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts))]

    def pad(self, rows: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """``input_ids`` and ``attention_mask`` (int64, rows x longest row)."""
        width = max((len(r) for r in rows), default=1) or 1
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for index, row in enumerate(rows):
            ids[index, : len(row)] = row
            mask[index, : len(row)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """First window of each text only (what the training pipeline embeds)."""
        return self.pad([e.ids for e in self._tokenizer.encode_batch(list(texts))])
