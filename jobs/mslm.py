"""mslm job, stage 1: masked span language modelling on a synthesis corpus, on Ray Train with DeepSpeed.

Masks tokens with probability 0.8 inside the relation span, 0.5 inside an entity mention and 0.2
elsewhere, trains on ``workers.num_workers`` Ray Train workers, checkpoints every
``loop.checkpoint_every`` steps under ``run_dir`` (a folder or ``s3://`` prefix; a rerun resumes
from the last checkpoint) and exports the encoder to ``<run_dir>/export``. Ends with one JSON line.

Usage: ``python -m jobs.mslm --config jobs/configs/mslm/smoke.yaml [--set loop.max_steps=20]`` (= ``tkre mslm ...``)
"""

from __future__ import annotations

from tkre.launch.pretrain import load_stage, pretrain, stage_main
from tkre.train.config import PretrainConfig

Config = PretrainConfig
STAGE = "mslm"


def load(path: str, overrides: list[str] = ()) -> Config:
    return load_stage(STAGE, path, overrides)


def run(cfg: Config) -> dict:
    return pretrain(cfg, STAGE)


def main(argv: list[str] | None = None, prog: str = "python -m jobs.mslm") -> dict:
    return stage_main(STAGE, __doc__.split("\n")[0], argv, prog)


if __name__ == "__main__":
    main()
