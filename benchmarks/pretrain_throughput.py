"""MSLM pre-training speed: Ray Train + DeepSpeed (1 worker) against a plain PyTorch loop.

Both train the same model (``--model``'s masked LM) on the same batches (the committed corpus,
span-masked, the loop's seeded order) for the same number of steps, with AdamW, warmup and
clipping, on every CPU core of this machine; tokens/s counts the non-padding tokens of all steps
from the first step on. The Ray side is the real job (``jobs/pretrain.py``, what ``tkre mslm`` runs) with one worker, so it
includes what a user pays: the DeepSpeed engine, the Ray Train context and its reporting, and the
local Ray runtime's settings (``tkre.launch.session``). The plain loop runs before and after it and
the ratio is against their mean: a shared 2-core machine drifts by 10% within minutes, which a single
plain run leaves in the ratio.
Last stdout line: one JSON object with ``tokens_per_s``, ``tokens_per_s_plain`` (the mean),
``tokens_per_s_plain_runs`` and ``ratio``.

Usage: ``python benchmarks/pretrain_throughput.py [--steps 40 --batch-size 16 --max-length 128]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import torch
from torch import nn
from tqdm import tqdm

from jobs.pretrain import run as pretrain
from tkre.data.datasets import data_dir
from tkre.data.masking import SpanMasker
from tkre.launch.session import stop_ray
from tkre.train.batches import collate, encode_texts
from tkre.train.config import EngineSettings, LoopSettings, PretrainConfig
from tkre.train.engines import adamw, linear_warmup
from tkre.train.loop import batch_indices
from tkre.train.model import PretrainModel
from tkre.train.stage import corpus_texts


def mslm_config(run_dir: str, steps: int, batch_size: int = 16, max_length: int = 128, model: str = "minilm") -> PretrainConfig:
    """MSLM on the committed corpus, checkpointing and logging only at the last step."""
    return PretrainConfig(
        run_dir=run_dir, corpus=os.path.abspath("corpora/wiki80_k8_smollm2"), data_dir=str(data_dir().resolve()),
        init_from=model, max_length=max_length,
        loop=LoopSettings(max_steps=steps, batch_size=batch_size, checkpoint_every=steps, log_every=steps))


def plain_tokens_per_s(cfg: PretrainConfig) -> float:
    """The reference: model, AdamW, schedule, a for loop; nothing else."""
    torch.manual_seed(cfg.loop.seed)
    texts, _ = corpus_texts(cfg)
    model = PretrainModel(cfg.init_from)
    masker = SpanMasker(model.tokenizer, cfg.masking, cfg.max_length)
    examples = encode_texts(texts, masker)
    optimizer = adamw(model, cfg.engine)
    scheduler = linear_warmup(optimizer, cfg.loop.max_steps, cfg.engine.warmup_ratio)
    pad = model.tokenizer.pad_token_id or 0
    model.train()
    start, tokens = time.time(), 0
    for step in tqdm(range(cfg.loop.max_steps), desc="plain"):
        epoch, ids = batch_indices(step, 0, 1, cfg.loop.batch_size, len(examples), cfg.loop.seed)
        batch = collate([examples[i] for i in ids], masker.mask_token_id, pad, cfg.loop.seed, epoch)
        loss = model(batch)["loss"]
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.engine.clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    return tokens / (time.time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--zero-stage", type=int, default=1)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="tkre-bench-") as run_dir:
        cfg = mslm_config(run_dir, args.steps, args.batch_size, args.max_length, args.model)
        cfg.engine = EngineSettings(kind="deepspeed", zero_stage=args.zero_stage)
        cfg.workers.num_workers, cfg.workers.cpus_per_worker, cfg.workers.max_failures = 1, float(cores), 0
        before = plain_tokens_per_s(cfg)
        ray_train = pretrain(cfg, "mslm")["tokens_per_s"]
        stop_ray()  # its worker logs end before the JSON line, and its processes before the second plain run
        after = plain_tokens_per_s(cfg)
    plain = (before + after) / 2
    print(json.dumps({
        "tokens_per_s": round(ray_train, 1),
        "tokens_per_s_plain": round(plain, 1),
        "tokens_per_s_plain_runs": [round(before, 1), round(after, 1)],
        "ratio": round(ray_train / plain, 4),
        "model": args.model,
        "engine": f"deepspeed zero-{args.zero_stage}, 1 Ray Train worker",
        "steps": args.steps,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "cpu_cores": cores,
        "torch_threads_plain": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }))


if __name__ == "__main__":
    main()
