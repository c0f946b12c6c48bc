"""Fine-tuning the top of the encoder and the task heads, on two CPU cores, in a few minutes.

The lower layers stay as packaged: their output for every training text is computed once and
kept (16-bit), then the top layers and one linear head per task train for two epochs on
length-bucketed batches with a multi-task loss (a text counts only for the tasks it is labelled
for). A second epoch lifted the prompt validation F1 above every one-epoch build (0.967 against
0.958-0.962) for about 170 s more training. Where the CPU has bfloat16 instructions both steps
run under bfloat16 autocast (about 1.8 times faster here); the weights stay float32 and the
exported graph is float32.
Build time only: needs torch.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import platform
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from llm_shield.ops.encoder import HIDDEN, Encoder

Progress = Callable[[str], None]


def milestones(say: Progress, what: str, total: int, unit: str) -> Callable[[int], None]:
    """A line every tenth of the way with the time left, where no terminal shows tqdm's bar: a
    build writing to a log (CI, ``make models > log``, a container) would otherwise be silent
    for the half hour the training takes on a CPU without bfloat16."""
    if sys.stderr.isatty():
        return lambda _n: None
    started = time.monotonic()
    done = 0
    said = 0

    def advance(n: int) -> None:
        nonlocal done, said
        done += n
        tenth = done * 10 // max(1, total)
        if tenth <= said or done >= total:
            return
        said = tenth
        left = (time.monotonic() - started) * (total - done) / done
        eta = "under a minute" if left < 60 else f"about {left / 60:.0f} min"
        say(f"    {what}: {tenth * 10}% ({done:,} of {total:,} {unit}), {eta} left")

    return advance


@contextmanager
def progress(say: Progress, what: str, total: int, unit: str) -> Iterator[Callable[[int], None]]:
    """One counter for both audiences: tqdm's bar on a terminal, ``milestones`` in a log."""
    from tqdm import tqdm

    tick = milestones(say, what, total, unit)
    with tqdm(total=total, desc=what, unit=unit, file=sys.stderr, disable=None) as bar:

        def advance(n: int) -> None:
            bar.update(n)
            tick(n)

        yield advance


@dataclass(frozen=True)
class TrainConfig:
    first_trained_layer: int = 3  # layers below it stay as packaged
    max_length: int = 128
    batch_size: int = 32
    epochs: float = 2.0
    encoder_lr: float = 5e-5
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: float = 0.06
    toxicity_positive_weight: float = 3.0
    seed: int = 1234


class Heads(nn.Module):
    """One linear layer per task on the pooled, normalised embedding."""

    def __init__(self, classes: dict[str, int]) -> None:
        super().__init__()
        self.layers = nn.ModuleDict({task: nn.Linear(HIDDEN, n) for task, n in classes.items()})

    def forward(self, embedding: torch.Tensor) -> dict[str, torch.Tensor]:
        return {task: layer(embedding) for task, layer in self.layers.items()}


class Classifier(nn.Module):
    """Encoder and heads as one graph: token ids in, one logits tensor per task out."""

    def __init__(self, encoder: Encoder, heads: Heads, tasks: Sequence[str]) -> None:
        super().__init__()
        self.encoder = encoder
        self.heads = heads
        self.tasks = list(tasks)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple:
        logits = self.heads(self.encoder(input_ids, attention_mask))
        return tuple(logits[task] for task in self.tasks)


def bf16_supported() -> bool:
    """bfloat16 autocast pays off only with native instructions (avx512_bf16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def _autocast(enabled: bool) -> torch.autocast:
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


def _padded(rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


def lower_states(
    encoder: Encoder,
    rows: Sequence[Sequence[int]],
    stop: int,
    *,
    bf16: bool,
    progress: Callable[[int], None] | None = None,
) -> list[torch.Tensor]:
    """Token states after the frozen layers, per row (float16, unpadded); ``progress`` hears
    the tokens of each batch done."""
    out: list[torch.Tensor | None] = [None] * len(rows)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    encoder.eval()
    with torch.no_grad():
        for start in range(0, len(order), 64):
            batch = order[start : start + 64]
            ids, mask = _padded([rows[i] for i in batch])
            with _autocast(bf16):
                states = encoder.hidden(ids, mask, stop=stop).float()
            for j, i in enumerate(batch):
                out[i] = states[j, : len(rows[i])].to(torch.float16).clone()
            if progress:
                progress(sum(len(rows[i]) for i in batch))
    return out  # type: ignore[return-value]


def fine_tune(
    encoder: Encoder,
    rows: Sequence[Sequence[int]],
    labels: dict[str, np.ndarray],
    classes: dict[str, int],
    config: TrainConfig,
    say: Progress,
) -> tuple[Heads, dict[str, float]]:
    """Train the top layers of ``encoder`` (in place) and new heads; returns heads and figures.

    ``labels`` holds, per task, one class index per row or -1 where the row is not labelled.
    """
    torch.manual_seed(config.seed)
    bf16 = bf16_supported()
    start = config.first_trained_layer
    started = time.monotonic()
    # counted in tokens: the rows run shortest first, so texts done would promise an early end
    with progress(say, "lower layers", sum(map(len, rows)), "tokens") as advance:
        states = lower_states(encoder, rows, start, bf16=bf16, progress=advance)
    cached_seconds = time.monotonic() - started

    heads = Heads(classes)
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    trained = [p for layer in encoder.layers[start:] for p in layer.parameters()]
    for parameter in trained:
        parameter.requires_grad_(True)
    optimiser = torch.optim.AdamW(
        [
            {"params": heads.parameters(), "lr": config.head_lr},
            {"params": trained, "lr": config.encoder_lr},
        ],
        weight_decay=config.weight_decay,
    )
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    buckets = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    rng = random.Random(config.seed)
    plan: list[list[int]] = []
    steps = max(1, int(math.ceil(len(buckets) * config.epochs)))
    while len(plan) < steps:
        shuffled = list(buckets)
        rng.shuffle(shuffled)
        plan += shuffled
    plan = plan[:steps]
    warmup = max(1, int(config.warmup * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps)
    )
    targets = {task: torch.tensor(values, dtype=torch.long) for task, values in labels.items()}
    weights = {"toxicity": torch.tensor([1.0, config.toxicity_positive_weight])}
    encoder.train()
    heads.train()
    losses: list[float] = []
    trained_started = time.monotonic()
    with progress(say, "fine-tune", steps, "batches") as advance:
        for batch in plan:
            width = max(len(rows[i]) for i in batch)
            x = torch.zeros((len(batch), width, HIDDEN))
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for j, i in enumerate(batch):
                x[j, : len(rows[i])] = states[i].float()
                mask[j, : len(rows[i])] = 1
            with _autocast(bf16):
                logits = heads(encoder.finish(x, mask, start=start))
            loss = torch.zeros(())
            for task, values in logits.items():
                y = targets[task][batch]
                keep = y >= 0
                if keep.any():
                    loss = loss + nn.functional.cross_entropy(
                        values.float()[keep], y[keep], weight=weights.get(task)
                    )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
            advance(1)
    encoder.eval()
    heads.eval()
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    figures = {
        "examples": len(rows),
        "steps": steps,
        "bf16": bf16,
        "lower_layers_seconds": round(cached_seconds, 1),
        "training_seconds": round(time.monotonic() - trained_started, 1),
        "final_loss": round(float(np.mean(losses[-50:])), 4),
    }
    say(
        f"    fine-tuned layers {start}-{len(encoder.layers) - 1} and heads on {len(rows):,} texts "
        f"in {figures['lower_layers_seconds'] + figures['training_seconds']:.0f} s "
        f"(bf16: {bf16}); loss {figures['final_loss']}"
    )
    return heads, figures


# ------------------------------------------------------------------------- trained weights kept

KEPT_RUNS = 3  # about 90 MB each
# what torch.load and load_state_dict raise on a truncated, foreign or mismatched file
UNREADABLE = (OSError, EOFError, RuntimeError, KeyError, ValueError, pickle.UnpicklingError)


def training_key(
    rows: Sequence[Sequence[int]],
    labels: dict[str, np.ndarray],
    classes: dict[str, int],
    config: TrainConfig,
    inputs: dict[str, str],
) -> str:
    """Everything the trained weights depend on: the token rows and labels themselves (so any
    change to the corpus, the seeds or the tokenizer shows), the training settings and code,
    the encoder's files (``inputs``: name -> sha256), torch's version, the thread count and
    bfloat16 (they change the floating-point sums)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(np.asarray(row, dtype=np.int64).tobytes())
        digest.update(b"|")
    for task in sorted(labels):
        digest.update(task.encode() + np.asarray(labels[task], dtype=np.int64).tobytes())
    here = Path(__file__).parent
    for name in ("train.py", "encoder.py"):
        digest.update((here / name).read_bytes())
    settings = {
        "classes": dict(sorted(classes.items())),
        "config": sorted(vars(config).items()),
        "inputs": dict(sorted(inputs.items())),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "bf16": bf16_supported(),
        "machine": platform.machine(),
    }
    digest.update(repr(settings).encode())
    return digest.hexdigest()[:24]


def fine_tune_kept(
    encoder: Encoder,
    rows: Sequence[Sequence[int]],
    labels: dict[str, np.ndarray],
    classes: dict[str, int],
    config: TrainConfig,
    say: Progress,
    *,
    folder: Path | None,
    inputs: dict[str, str],
) -> tuple[Heads, dict[str, Any]]:
    """``fine_tune``, or the weights this machine trained from exactly the same inputs before.

    Training is nearly all of a build's hour on a CPU without bfloat16, while a change to how
    thresholds are chosen or graphs exported needs none of it: with the weights kept, such a
    rebuild takes minutes. Training is deterministic for a given key (two builds of the same
    inputs gave byte-identical graphs), so a kept run is the run a retrain would give.
    ``folder`` None trains without reading or keeping anything.
    """
    if folder is None:
        return fine_tune(encoder, rows, labels, classes, config, say)
    key = training_key(rows, labels, classes, config, inputs)
    path = folder / f"training-{key}.pt"
    if path.exists():
        try:
            kept = torch.load(path, map_location="cpu", weights_only=True)
            heads = Heads(classes)
            encoder.load_state_dict(kept["encoder"])
            heads.load_state_dict(kept["heads"])
        except UNREADABLE as error:  # a truncated or foreign file: train instead
            say(f"    kept weights {path.name} unreadable ({error.__class__.__name__}); training")
        else:
            encoder.eval()
            heads.eval()
            for parameter in encoder.parameters():
                parameter.requires_grad_(False)
            figures = {**kept["figures"], "kept_run": key}
            say(f"    weights trained from the same inputs before: {path} (training skipped)")
            return heads, figures
    heads, figures = fine_tune(encoder, rows, labels, classes, config, say)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        torch.save(
            {"encoder": encoder.state_dict(), "heads": heads.state_dict(), "figures": figures},
            partial,
        )
        os.replace(partial, path)
        runs = sorted(folder.glob("training-*.pt"), key=lambda p: p.stat().st_mtime)
        for old in runs[:-KEPT_RUNS]:
            old.unlink(missing_ok=True)
    except OSError as error:
        say(f"    could not keep the trained weights in {folder}: {error}")
    return heads, figures
