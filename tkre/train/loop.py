"""The pre-training loop, written once against a small context so it runs under Ray Train, Tune and plainly.

Batches are a pure function of (seed, step, rank): each epoch is a seeded permutation cut into
``steps_per_epoch`` global batches (the remainder dropped), rank r takes its slice. A run resumed
from the checkpoint at step s therefore continues exactly where an uninterrupted run would be.

Usage::

    ctx = LocalContext("runs/mslm")                      # or the Ray Train context in tkre.launch
    train(engine, examples, collate_fn, LoopSettings(max_steps=200, batch_size=16), ctx, export=model.export)
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch
from tqdm import tqdm

from tkre.train.config import LoopSettings


class Context(Protocol):
    """Where the loop runs: its rank, and where checkpoints come from and go to."""

    rank: int
    world_size: int

    def latest_checkpoint(self) -> str | None: ...
    def checkpoint_folder(self, step: int) -> str: ...
    def report(self, metrics: dict, checkpoint: str | None) -> None: ...
    def close(self) -> None: ...


class LocalContext:
    """One process; checkpoints in ``<run_dir>/checkpoints/step-NNNNNN``, metrics kept in ``history``."""

    rank, world_size = 0, 1

    def __init__(self, run_dir: str):
        self.root = Path(run_dir) / "checkpoints"
        self.history: list[dict] = []

    def latest_checkpoint(self) -> str | None:
        done = sorted(p for p in self.root.glob("step-*") if (p / "COMPLETE").exists())
        return str(done[-1]) if done else None

    def checkpoint_folder(self, step: int) -> str:
        return str(self.root / f"step-{step:06d}")

    def report(self, metrics: dict, checkpoint: str | None) -> None:
        if checkpoint:
            (Path(checkpoint) / "COMPLETE").touch()
        self.history.append(metrics)

    def close(self) -> None:
        """Nothing to clean: checkpoints stay in the run directory."""


def batch_indices(step: int, rank: int, world_size: int, batch_size: int, n: int, seed: int) -> tuple[int, list[int]]:
    """``(epoch, indices)`` of rank ``rank``'s share of global batch ``step``."""
    per_step = batch_size * world_size
    steps_per_epoch = n // per_step
    if steps_per_epoch == 0:
        raise ValueError(f"{n} examples are fewer than one global batch ({batch_size} x {world_size} workers)")
    epoch, position = divmod(step, steps_per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    start = position * per_step + rank * batch_size
    return epoch, order[start : start + batch_size].tolist()


def train(engine, examples: list, collate_fn: Callable[[list, int], dict], settings: LoopSettings, ctx: Context,
          export: Callable[[str], None] | None = None, evaluate: Callable[[], dict] | None = None) -> dict:
    """Trains to ``settings.max_steps``, resuming from the context's latest checkpoint; returns the last metrics.

    With ``evaluate`` and ``settings.eval_every``, rank 0 adds its metrics (e.g. validation accuracy)
    to the report every ``eval_every`` steps and at the last step.
    """
    resume, step = ctx.latest_checkpoint(), 0
    if resume:
        state = engine.load(resume)
        step = state["step"]
        torch.random.set_rng_state(state["rng"])  # dropout continues as if never interrupted
        if ctx.rank == 0:
            print(f"[train] resumed at step {step} from {resume}", file=sys.stderr, flush=True)
    sums: dict[str, float] = {}
    count = 0  # steps summed since the last log
    metrics: dict = {"step": step}
    start, tokens = time.time(), 0
    bar = tqdm(total=settings.max_steps, initial=step, desc="train", disable=ctx.rank != 0)
    while step < settings.max_steps:
        epoch, ids = batch_indices(step, ctx.rank, ctx.world_size, settings.batch_size, len(examples), settings.seed)
        batch = collate_fn([examples[i] for i in ids], epoch)
        batch["step"] = step  # models that change with the step (the MSLM head warm-up) read it
        out = engine(batch)
        engine.backward(out["loss"])
        engine.step()
        step += 1
        tokens += int(batch["attention_mask"].sum())
        count += 1
        for key, value in out.items():
            sums[key] = sums.get(key, 0.0) + float(value.detach())
        bar.update(1)
        due = step % settings.checkpoint_every == 0 or step == settings.max_steps
        assess = evaluate is not None and settings.eval_every > 0 and (
            step % settings.eval_every == 0 or step == settings.max_steps)
        log = due or assess or step % settings.log_every == 0
        if log:
            metrics = {"step": step, "epoch": epoch, **{k: v / count for k, v in sums.items()},
                       "tokens_per_s": tokens / max(time.time() - start, 1e-9)}
            if not all(math.isfinite(v) for v in sums.values()):
                raise FloatingPointError(f"step {step}: non-finite loss {sums}")
            sums, count = {}, 0
            if assess and ctx.rank == 0:
                metrics.update(evaluate())
        checkpoint = None
        if due:
            checkpoint = ctx.checkpoint_folder(step)
            engine.save(checkpoint, {"step": step, "rng": torch.random.get_rng_state()})
            if export is not None and ctx.rank == 0:
                export(str(Path(checkpoint) / "hf"))
        if log:
            ctx.report(metrics, checkpoint)
    bar.close()
    return metrics
