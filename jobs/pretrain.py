"""pretrain job, both stages on Ray Train with DeepSpeed: ``mslm`` (stage 1) and ``scl`` (stage 2, MSLM + SCL).

Stage 1 masks tokens with probability 0.8 inside the relation span, 0.5 inside an entity mention and
0.2 elsewhere. Stage 2 starts from the stage-1 export (``init_from``) and adds span-level contrastive
learning: loss = l1 * MSLM + l2 * SCL, the relation span of each text pulled towards its relation's
anchor and away from a random short span at temperature ``scl.temperature``. Either stage trains on
``workers.num_workers`` Ray Train workers (a local Ray, or the cluster at ``RAY_ADDRESS``), checkpoints
every ``loop.checkpoint_every`` steps under ``run_dir`` (a folder or ``s3://`` prefix; a rerun resumes
from the last checkpoint), exports the encoder with its model card to ``<run_dir>/export`` and writes
``metrics.json``. With ``val`` set, the validation relations are held out and scored every
``loop.eval_every`` steps (``val/acc``). Ends with one JSON line.

Usage: ``python -m jobs.pretrain mslm --config jobs/configs/mslm/smoke.yaml [--set loop.max_steps=20]`` (= ``tkre mslm ...``);
``python -m jobs.pretrain scl --config jobs/configs/scl/smoke.yaml [--set scl.temperature=0.05]`` (= ``tkre scl ...``)
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict

from tkre.config import config_yaml, job_arguments, load_config
from tkre.errors import ConfigError, user_errors
from tkre.launch.ray_train import fit, pretrain_worker
from tkre.launch.session import stop_ray
from tkre.models.card import InferenceSettings, write_card
from tkre.models.encoder import resolve_model
from tkre.storage import CONFIG, METRICS_FILE, absolute, export_of, is_remote, open_storage, upload_folder
from tkre.tracking import job_run, open_tracking
from tkre.train.config import STAGES, PretrainConfig, check_stage
from tkre.train.stage import corpus_texts, resolve_paths

Config = PretrainConfig


def load(stage: str, path: str, overrides: list[str] = ()) -> Config:
    """The stage's config: its field rules and the rules between its fields checked."""
    return load_config(Config, path, overrides, check=lambda cfg: check_stage(cfg, stage))


def run(cfg: Config, stage: str) -> dict:
    """Trains the stage on Ray Train into ``cfg.run_dir`` and exports it; returns its summary."""
    # 1. What can fail is checked before anything is written: the tracking server, the model, the storage, the corpus.
    tracking = open_tracking(cfg.tracking)
    run_dir = absolute(cfg.run_dir)
    store = open_storage(run_dir)
    resolve_model(cfg.init_from or "minilm")
    store.check()
    cfg = resolve_paths(cfg, os.getcwd())  # workers start elsewhere
    texts, heldout = corpus_texts(cfg)
    print(f"[{stage}] {len(texts)} texts from {cfg.corpus}, init from {cfg.init_from}", file=sys.stderr)
    store.write_text(CONFIG, config_yaml(cfg))
    with job_run(tracking, stage, cfg, record=store) as tracked:  # a resumed run goes on logging to the same run
        summary = train_and_export(cfg, stage, run_dir, texts, heldout, tracked.remote(run_dir))
        tracked.tags({"tkre.export": summary["export"]})
        tracked.metrics({"wall_s": summary["wall_s"]})
        tracked.artifacts(open_storage(summary["export"]), ["README.md", "tkre.json"], "model_card")
        tracked.artifacts(store, [METRICS_FILE, CONFIG])
    return summary


def train_and_export(cfg: Config, stage: str, run_dir: str, texts: list, heldout: list[str], tracking: dict | None) -> dict:
    """Steps 2 and 3: training on Ray Train (rank 0 logs each step to the ``tracking`` run), the export and its card."""
    store = open_storage(run_dir)
    # 2. Every worker runs tkre.train.stage.train_stage on its rank; Ray keeps the checkpoints under run_dir.
    start = time.time()
    loop_config = {"config": asdict(cfg), "texts": [asdict(t) for t in texts], "heldout": heldout, "tracking": tracking}
    result = fit(pretrain_worker, loop_config, cfg.workers.num_workers, cfg.workers.use_gpu, storage_path=run_dir,
                 name="train", max_failures=cfg.workers.max_failures, cpus_per_worker=cfg.workers.cpus_per_worker)

    # 3. The last checkpoint's Hugging Face folder becomes the export, with its model card and the metrics.
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


def main(argv: list[str] | None = None, prog: str = "python -m jobs.pretrain", stage: str | None = None) -> dict:
    """``tkre mslm ...`` / ``tkre scl ...`` pass the stage; ``python -m jobs.pretrain STAGE ...`` names it first."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if stage is None and argv[:1] and argv[0] in STAGES:
        stage, prog = argv[0], f"{prog} {argv[0]}"
        argv = argv[1:]
    with user_errors(prog):
        if stage is None:
            raise ConfigError(f"name the stage first: {prog} {{{','.join(STAGES)}}} --config FILE [--set KEY=VALUE]")
        args = job_arguments(__doc__.split("\n")[0], argv, prog)
        summary = run(load(stage, args.config, args.set), stage)
    stop_ray()  # its worker logs end before the summary line
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
