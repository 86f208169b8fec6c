"""mslm job, stage 1: masked span language modelling on a synthesis corpus, on Ray Train with DeepSpeed.

Masks tokens with probability 0.8 inside the relation span, 0.5 inside an entity mention and 0.2
elsewhere, trains on ``workers.num_workers`` Ray Train workers, checkpoints every
``loop.checkpoint_every`` steps under ``run_dir`` (a folder or ``s3://`` prefix; a rerun resumes
from the last checkpoint) and exports the encoder to ``<run_dir>/export``. Ends with one JSON line.

Usage: ``python -m jobs.mslm --config jobs/configs/mslm/smoke.yaml [--set loop.max_steps=20]`` (= ``tkre mslm ...``)
"""

from __future__ import annotations

import json

from tkre.config import job_arguments, load_config
from tkre.errors import user_errors
from tkre.launch.pretrain import pretrain
from tkre.launch.session import stop_ray
from tkre.models.encoder import resolve_model
from tkre.storage import open_storage
from tkre.train.stage import PretrainConfig, check_stage

Config = PretrainConfig
STAGE = "mslm"


def load(path: str, overrides: list[str] = ()) -> Config:
    return load_config(Config, path, overrides, check=lambda cfg: check_stage(cfg, STAGE))


def run(cfg: Config) -> dict:
    resolve_model(cfg.init_from or "minilm")  # a missing model fails here, before anything is written
    open_storage(cfg.run_dir).check()
    return pretrain(cfg, STAGE)


def main(argv: list[str] | None = None, prog: str = "python -m jobs.mslm") -> dict:
    with user_errors(prog):
        args = job_arguments(__doc__.split("\n")[0], argv, prog)
        summary = run(load(args.config, args.set))
    stop_ray()  # its worker logs end before the summary line
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
