"""Batch tokenisation over Hugging Face ``tokenizers`` (tokenizer.json), returning numpy feeds.

Pads to the longest text of the batch, not to max_length, so short texts cost little.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


class TextTokenizer:
    def __init__(self, path: Path, *, max_length: int, truncation_side: str = "right") -> None:
        self.path = path
        self.max_length = max_length
        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.enable_truncation(max_length=max_length, direction=truncation_side)
        self._tokenizer.no_padding()
        pad_id = self._tokenizer.token_to_id("[PAD]")
        self.pad_id = 0 if pad_id is None else pad_id

    def lengths(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """``input_ids`` and ``attention_mask`` (int64, batch x longest)."""
        encodings = self._tokenizer.encode_batch(list(texts))
        width = max((len(e.ids) for e in encodings), default=1) or 1
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = 1
        return {"input_ids": ids, "attention_mask": mask}
