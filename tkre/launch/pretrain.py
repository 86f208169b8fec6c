"""A pre-training stage on Ray Train: the per-worker loop and the driver that fits and exports it.

The driver resolves the paths (workers start elsewhere), reads and checks the corpus once, writes
``config.yaml``, runs ``train_stage`` on ``workers.num_workers`` Ray Train workers (a local Ray, or
the cluster at ``RAY_ADDRESS``), copies the last checkpoint's Hugging Face folder to
``<run_dir>/export`` with its model card (``tkre.models.card``) and writes ``metrics.json``; ``run_dir``
is a folder or an ``s3://`` prefix.

Usage::

    summary = pretrain(load_stage("mslm", "jobs/configs/mslm/smoke.yaml", ["loop.max_steps=20"]), "mslm")
    stage_main("scl", "stage 2", ["--config", "jobs/configs/scl/smoke.yaml"], prog="tkre scl")   # a job's main
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict

from tkre.config import config_yaml, from_dict, job_arguments, load_config
from tkre.data.pretrain import PretrainText
from tkre.errors import user_errors
from tkre.launch.session import stop_ray
from tkre.models.card import InferenceSettings, write_card
from tkre.models.encoder import resolve_model
from tkre.storage import CONFIG, METRICS_FILE, absolute, export_of, is_remote, open_storage, upload_folder
from tkre.train.config import PretrainConfig, check_stage
from tkre.train.stage import corpus_texts, resolve_paths, train_stage


def worker_loop(loop_config: dict) -> None:
    """One Ray Train worker: the stage on this rank."""
    from tkre.launch.ray_train import RayTrainContext

    ctx = RayTrainContext()
    try:
        train_stage(from_dict(PretrainConfig, loop_config["config"]), [PretrainText(**x) for x in loop_config["texts"]],
                    loop_config["heldout"], ctx)
    finally:
        ctx.close()


def load_stage(stage: str, path: str, overrides: list[str] = ()) -> PretrainConfig:
    """The stage's config, its field rules and the rules between its fields checked."""
    return load_config(PretrainConfig, path, overrides, check=lambda cfg: check_stage(cfg, stage))


def pretrain(cfg: PretrainConfig, stage: str) -> dict:
    """Runs the stage on Ray Train into ``cfg.run_dir``; returns its summary."""
    from tkre.launch.ray_train import fit

    run_dir = absolute(cfg.run_dir)
    store = open_storage(run_dir)
    resolve_model(cfg.init_from or "minilm")  # checks before anything is written: model, storage, corpus
    store.check()
    cfg = resolve_paths(cfg, os.getcwd())
    texts, heldout = corpus_texts(cfg)
    print(f"[{stage}] {len(texts)} texts from {cfg.corpus}, init from {cfg.init_from}", file=sys.stderr)
    store.write_text(CONFIG, config_yaml(cfg))
    start = time.time()
    loop_config = {"config": asdict(cfg), "texts": [asdict(t) for t in texts], "heldout": heldout}
    result = fit(worker_loop, loop_config, cfg.workers.num_workers, cfg.workers.use_gpu, storage_path=run_dir,
                 name="train", max_failures=cfg.workers.max_failures, cpus_per_worker=cfg.workers.cpus_per_worker)
    export = export_of(run_dir)
    with result.checkpoint.as_directory() as folder:
        upload_folder(os.path.join(folder, "hf"), export)
    checkpoint = ("s3://" if is_remote(run_dir) else "") + result.checkpoint.path
    measured = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}
    summary = {"stage": stage, "run_dir": run_dir, "export": export, "checkpoint": checkpoint, **measured,
               "wall_s": round(time.time() - start, 1)}
    write_card(export, stage, asdict(cfg), measured, f"{len(texts)} texts of {cfg.corpus}", InferenceSettings(),
               cfg.init_from)
    store.write_text(METRICS_FILE, json.dumps(summary, indent=2))
    return summary


def stage_main(stage: str, description: str, argv: list[str] | None, prog: str) -> dict:
    """A pre-training job's command line: ``--config`` and ``--set``, one-line errors, one JSON line at the end."""
    with user_errors(prog):
        args = job_arguments(description, argv, prog)
        summary = pretrain(load_stage(stage, args.config, args.set), stage)
    stop_ray()  # its worker logs end before the summary line
    print(json.dumps(summary))
    return summary
