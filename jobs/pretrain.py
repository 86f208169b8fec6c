"""Two-stage knowledge-guided pre-training on Ray Train: ``mslm`` (stage 1) and ``scl`` (stage 2, MSLM + SCL).

Both stages read a synthesis output (explanations, synthetic instances and the gold support it
names), train on ``workers.num_workers`` Ray Train workers with the configured engine, checkpoint
every ``loop.checkpoint_every`` steps under ``run_dir`` (a folder or ``s3://`` prefix) and export
a Hugging Face encoder to ``<run_dir>/export``. Stage 2 starts from the stage-1 export named by
``init_from`` (a folder or ``s3://`` prefix).

Usage::

    python -m jobs.pretrain_mslm --config jobs/configs/pretrain_mslm/smoke.yaml
    python -m jobs.pretrain_scl --config jobs/configs/pretrain_scl/smoke.yaml --set scl.temperature=0.05
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field

from tkre.config import config_yaml, from_dict, load_config
from tkre.data.datasets import data_dir
from tkre.data.masking import MaskingRates
from tkre.data.pretrain import PretrainText, pretraining_texts, read_synthesis, support_of
from tkre.storage import download_folder, open_storage, upload_folder
from tkre.train.engines import EngineSettings
from tkre.train.loop import LoopSettings
from tkre.train.model import SCLSettings


@dataclass
class WorkersConfig:
    num_workers: int = 2
    use_gpu: bool = False
    cpus_per_worker: float = 1.0
    max_failures: int = 1


@dataclass
class PretrainJobConfig:
    run_dir: str = "runs/mslm"
    corpus: str = "docs/results/synthesis_wiki80_k8"  # a synthesis output
    data_dir: str | None = None
    sources: list[str] = field(default_factory=lambda: ["explanation", "synthetic", "support"])
    init_from: str | None = None  # minilm, a folder or hub name; stage 2: the stage-1 export
    max_length: int = 128
    masking: MaskingRates = field(default_factory=MaskingRates)
    loop: LoopSettings = field(default_factory=LoopSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    scl: SCLSettings | None = None  # stage 2 only


def worker_loop(loop_config: dict) -> None:
    """One Ray Train worker: corpus -> examples -> model -> engine -> the shared train loop."""
    import torch

    from tkre.data.masking import SpanMasker
    from tkre.launch.ray_train import RayTrainContext
    from tkre.losses.scl import RelationVocab
    from tkre.train.batches import collate, encode_texts
    from tkre.train.engines import make_engine
    from tkre.train.loop import train
    from tkre.train.model import PretrainModel

    cfg = from_dict(PretrainJobConfig, loop_config["config"])
    texts = [PretrainText(**x) for x in loop_config["texts"]]  # read and checked once, by the driver
    ctx = RayTrainContext()
    torch.manual_seed(cfg.loop.seed)
    vocab = RelationVocab(t.relation for t in texts) if cfg.scl is not None else None
    init_from = cfg.init_from
    if init_from.startswith("s3://"):
        init_from = str(download_folder(init_from, os.path.join(ctx.scratch, "init_from")))
    model = PretrainModel(init_from, len(vocab) if vocab else 0, cfg.scl)
    if init_from != cfg.init_from:
        shutil.rmtree(init_from)  # loaded; the scratch folder holds nothing but checkpoints in flight
    masker = SpanMasker(model.tokenizer, cfg.masking, cfg.max_length)
    examples = encode_texts(texts, masker, vocab)
    if ctx.rank == 0:
        print(f"[pretrain] {len(texts)} texts, mentions {dict(masker.counts)}", file=sys.stderr)
    engine = make_engine(cfg.engine, model, cfg.loop.max_steps, cfg.loop.batch_size,
                         torch.device("cuda" if cfg.workers.use_gpu else "cpu"))
    pad = model.tokenizer.pad_token_id or 0
    train(engine, examples, lambda xs, epoch: collate(xs, masker.mask_token_id, pad, cfg.loop.seed, epoch),
          cfg.loop, ctx, export=model.export)


def corpus_texts(cfg: PretrainJobConfig) -> list[PretrainText]:
    """The checked pre-training texts of ``cfg.corpus`` (explanations, synthetic, support: ``cfg.sources``)."""
    synthesis = read_synthesis(cfg.corpus)
    return pretraining_texts(synthesis, support_of(synthesis, cfg.data_dir), tuple(cfg.sources))


def _absolute(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def pretrain(cfg: PretrainJobConfig, stage: str) -> dict:
    from tkre.launch.ray_train import fit

    if stage == "scl" and (cfg.scl is None or not cfg.init_from or cfg.init_from == "minilm"):
        raise ValueError("scl: set scl (its settings) and init_from (the stage-1 export, e.g. runs/mslm/export)")
    if stage == "mslm" and cfg.scl is not None:
        raise ValueError("mslm: scl settings belong to the scl stage")
    cfg.init_from = cfg.init_from or "minilm"
    # Ray Train workers start elsewhere: hand them absolute paths, and the corpus read and checked here
    cfg.corpus = _absolute(cfg.corpus)
    cfg.init_from = _absolute(cfg.init_from) if os.path.exists(cfg.init_from) else cfg.init_from
    cfg.data_dir = str(data_dir(cfg.data_dir).resolve())
    texts = corpus_texts(cfg)
    print(f"[{stage}] {len(texts)} texts from {cfg.corpus}, init from {cfg.init_from}", file=sys.stderr)
    run_dir = _absolute(cfg.run_dir)
    store = open_storage(run_dir)
    store.write_text("config.yaml", config_yaml(cfg))
    start = time.time()
    result = fit(worker_loop, {"config": asdict(cfg), "texts": [asdict(t) for t in texts]}, cfg.workers.num_workers, cfg.workers.use_gpu,
                 storage_path=run_dir, name="train", max_failures=cfg.workers.max_failures,
                 cpus_per_worker=cfg.workers.cpus_per_worker)
    export = f"{run_dir}/export"
    with result.checkpoint.as_directory() as folder:
        if "://" not in export:
            shutil.rmtree(export, ignore_errors=True)
        upload_folder(os.path.join(folder, "hf"), export)
    summary = {"stage": stage, "run_dir": run_dir, "export": export, "checkpoint": ("s3://" if run_dir.startswith("s3://") else "") + result.checkpoint.path,
               **{k: v for k, v in result.metrics.items() if isinstance(v, (int, float))},
               "wall_s": round(time.time() - start, 1)}
    store.write_text("metrics.json", json.dumps(summary, indent=2))
    return summary


def run(stage: str, config: str, overrides: list[str]) -> dict:
    """Loads the config, runs the stage, stops Ray so its worker logs end before the summary line."""
    import ray

    summary = pretrain(load_config(PretrainJobConfig, config, overrides), stage)
    if ray.is_initialized():
        ray.shutdown()
    return summary


def main(stage: str, argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=f"TKRE pre-training stage {stage}")
    parser.add_argument("--config", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    args = parser.parse_args(argv)
    summary = run(stage, args.config, args.set)
    print(json.dumps(summary))
    return summary
