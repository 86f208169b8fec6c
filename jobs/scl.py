"""scl job, stage 2: span-level contrastive learning jointly with MSLM, from the stage-1 export.

Loss = l1 * MSLM + l2 * SCL: the relation span of each text is pulled towards a learned anchor of
its relation and away from a random short span, through a shared projection at temperature
``scl.temperature``. Starts from ``init_from`` (the stage-1 export, a folder or ``s3://`` prefix),
trains and checkpoints like the mslm job, and exports to ``<run_dir>/export``. With ``val`` set,
held-out relations are scored every ``loop.eval_every`` steps (``val/acc``). Ends with one JSON line.

Usage: ``python -m jobs.scl --config jobs/configs/scl/smoke.yaml [--set scl.temperature=0.05]`` (= ``tkre scl ...``)
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
STAGE = "scl"


def load(path: str, overrides: list[str] = ()) -> Config:
    return load_config(Config, path, overrides, check=lambda cfg: check_stage(cfg, STAGE))


def run(cfg: Config) -> dict:
    resolve_model(cfg.init_from or "minilm")  # a missing model fails here, before anything is written
    open_storage(cfg.run_dir).check()
    return pretrain(cfg, STAGE)


def main(argv: list[str] | None = None, prog: str = "python -m jobs.scl") -> dict:
    with user_errors(prog):
        args = job_arguments(__doc__.split("\n")[0], argv, prog)
        summary = run(load(args.config, args.set))
    stop_ray()  # its worker logs end before the summary line
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
