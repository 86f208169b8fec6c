"""Two-stage knowledge-guided pre-training on Ray Train: ``mslm`` (stage 1) and ``scl`` (stage 2, MSLM + SCL).

Both stages read a synthesis output (explanations, synthetic instances and the gold support it
names), train on ``workers.num_workers`` Ray Train workers with the configured engine, checkpoint
every ``loop.checkpoint_every`` steps under ``run_dir`` (a folder or ``s3://`` prefix) and export
a Hugging Face encoder to ``<run_dir>/export``. Stage 2 starts from the stage-1 export named by
``init_from`` (a folder or ``s3://`` prefix). Shot settings (``support_k``, ``synthetic_per_relation``)
choose what of the corpus is used; with ``val`` set, ``val.holdout`` corpus relations are kept out
of training and scored as frozen validation episodes every ``loop.eval_every`` steps (``val/acc``).

Usage::

    python -m jobs.pretrain_mslm --config jobs/configs/pretrain_mslm/smoke.yaml
    python -m jobs.pretrain_scl --config jobs/configs/pretrain_scl/smoke.yaml --set scl.temperature=0.05
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field

from tkre.config import config_yaml, from_dict, job_arguments, load_config
from tkre.data.datasets import data_dir
from tkre.data.masking import MaskingRates
from tkre.data.pretrain import PretrainText, pretraining_texts, read_synthesis, support_of
from tkre.eval.validation import ValidationConfig, heldout_relations
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
    support_k: int | None = None  # the first K support instances per relation and their explanations (null: all)
    synthetic_per_relation: int | None = None  # the first N synthetic instances per relation (null: all)
    init_from: str | None = None  # minilm, a folder or hub name; stage 2: the stage-1 export
    max_length: int = 128
    masking: MaskingRates = field(default_factory=MaskingRates)
    loop: LoopSettings = field(default_factory=LoopSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    scl: SCLSettings | None = None  # stage 2 only
    val: ValidationConfig | None = None  # episodic validation on held-out corpus relations (sweeps)


def worker_loop(loop_config: dict) -> None:
    """One Ray Train worker: the stage on this rank."""
    from tkre.launch.ray_train import RayTrainContext

    train_stage(from_dict(PretrainJobConfig, loop_config["config"]), [PretrainText(**x) for x in loop_config["texts"]],
                loop_config["heldout"], RayTrainContext())


def train_stage(cfg: PretrainJobConfig, texts: list[PretrainText], heldout: list[str], ctx) -> dict:
    """Texts (read and checked by the driver) -> examples -> model -> engine -> the shared train loop on ``ctx``."""
    import torch

    from tkre.data.masking import SpanMasker
    from tkre.eval.validation import Validator
    from tkre.losses.scl import RelationVocab
    from tkre.train.batches import collate, encode_texts
    from tkre.train.engines import make_engine
    from tkre.train.loop import train
    from tkre.train.model import PretrainModel

    torch.set_num_threads(max(1, int(cfg.workers.cpus_per_worker)))
    torch.manual_seed(cfg.loop.seed)
    vocab = RelationVocab(t.relation for t in texts) if cfg.scl is not None else None
    init_from = cfg.init_from
    if init_from.startswith("s3://"):
        init_from = str(download_folder(init_from, os.path.join(ctx.scratch, "init_from")))
    model = PretrainModel(init_from, len(vocab) if vocab else 0, cfg.scl)
    validator = None
    if cfg.val is not None and ctx.rank == 0:
        validator = Validator(cfg.val, heldout, init_from, cfg.max_length, cfg.data_dir)
    if init_from != cfg.init_from:
        shutil.rmtree(init_from)  # loaded; the scratch folder holds nothing but checkpoints in flight
    masker = SpanMasker(model.tokenizer, cfg.masking, cfg.max_length)
    examples = encode_texts(texts, masker, vocab)
    if ctx.rank == 0:
        print(f"[pretrain] {len(texts)} texts, mentions {dict(masker.counts)}"
              + (f", {len(heldout)} relations held out for validation" if heldout else ""), file=sys.stderr)
    engine = make_engine(cfg.engine, model, cfg.loop.max_steps, cfg.loop.batch_size,
                         torch.device("cuda" if cfg.workers.use_gpu else "cpu"))
    pad = model.tokenizer.pad_token_id or 0
    return train(engine, examples, lambda xs, epoch: collate(xs, masker.mask_token_id, pad, cfg.loop.seed, epoch),
                 cfg.loop, ctx, export=model.export,
                 evaluate=(lambda: validator(model.mlm.base_model)) if validator else None)


def corpus_texts(cfg: PretrainJobConfig) -> tuple[list[PretrainText], list[str]]:
    """The checked pre-training texts of ``cfg.corpus`` under the shot settings, and the relations held out for ``val``."""
    synthesis = read_synthesis(cfg.corpus)
    texts = pretraining_texts(synthesis, support_of(synthesis, cfg.data_dir), tuple(cfg.sources),
                              cfg.support_k, cfg.synthetic_per_relation)
    if cfg.val is None:
        return texts, []
    heldout = heldout_relations([t.relation for t in texts], cfg.val.holdout, cfg.val.holdout_seed)
    return [t for t in texts if t.relation not in heldout], heldout


def resolve_paths(cfg: PretrainJobConfig, root: str) -> PretrainJobConfig:
    """Makes the corpus, init_from and data paths absolute against ``root`` (workers start elsewhere)."""
    cfg.init_from = cfg.init_from or "minilm"
    cfg.corpus = _absolute(cfg.corpus, root)
    local = _absolute(cfg.init_from, root)
    cfg.init_from = local if os.path.exists(local) else cfg.init_from
    cfg.data_dir = str(data_dir(cfg.data_dir and _absolute(cfg.data_dir, root)).resolve())
    return cfg


def _absolute(path: str, root: str) -> str:
    return path if "://" in path else os.path.abspath(os.path.join(root, os.path.expanduser(path)))


def check_stage(cfg: PretrainJobConfig, stage: str) -> None:
    if stage == "scl" and (cfg.scl is None or not cfg.init_from or cfg.init_from == "minilm"):
        raise ValueError("scl: set scl (its settings) and init_from (the stage-1 export, e.g. runs/mslm/export)")
    if stage == "mslm" and cfg.scl is not None:
        raise ValueError("mslm: scl settings belong to the scl stage")
    if cfg.val is not None and cfg.loop.eval_every < 1:
        raise ValueError("val: set loop.eval_every (steps between validations)")
    if cfg.val is not None and cfg.engine.kind == "deepspeed" and cfg.engine.zero_stage == 3:
        raise ValueError("val: validation reads rank 0's whole weights; use ZeRO stage 0-2")


def pretrain(cfg: PretrainJobConfig, stage: str) -> dict:
    from tkre.launch.ray_train import fit

    check_stage(cfg, stage)
    # Ray Train workers start elsewhere: hand them absolute paths, and the corpus read and checked here
    cfg = resolve_paths(cfg, os.getcwd())
    texts, heldout = corpus_texts(cfg)
    print(f"[{stage}] {len(texts)} texts from {cfg.corpus}, init from {cfg.init_from}", file=sys.stderr)
    run_dir = _absolute(cfg.run_dir, os.getcwd())
    store = open_storage(run_dir)
    store.write_text("config.yaml", config_yaml(cfg))
    start = time.time()
    loop_config = {"config": asdict(cfg), "texts": [asdict(t) for t in texts], "heldout": heldout}
    result = fit(worker_loop, loop_config, cfg.workers.num_workers, cfg.workers.use_gpu, storage_path=run_dir,
                 name="train", max_failures=cfg.workers.max_failures, cpus_per_worker=cfg.workers.cpus_per_worker)
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
    args = job_arguments(f"TKRE pre-training stage {stage}", argv)
    summary = run(stage, args.config, args.set)
    print(json.dumps(summary))
    return summary
