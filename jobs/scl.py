"""scl job, stage 2: span-level contrastive learning jointly with MSLM, from the stage-1 export.

Loss = l1 * MSLM + l2 * SCL: the relation span of each text is pulled towards a learned anchor of
its relation and away from a random short span, through a shared projection at temperature
``scl.temperature``. Starts from ``init_from`` (the stage-1 export, a folder or ``s3://`` prefix),
trains and checkpoints like the mslm job, and exports to ``<run_dir>/export``. With ``val`` set,
held-out relations are scored every ``loop.eval_every`` steps (``val/acc``). Ends with one JSON line.

Usage: ``python -m jobs.scl --config jobs/configs/scl/smoke.yaml [--set scl.temperature=0.05]`` (= ``tkre scl ...``)
"""

from __future__ import annotations

from tkre.launch.pretrain import load_stage, pretrain, stage_main
from tkre.train.config import PretrainConfig

Config = PretrainConfig
STAGE = "scl"


def load(path: str, overrides: list[str] = ()) -> Config:
    return load_stage(STAGE, path, overrides)


def run(cfg: Config) -> dict:
    return pretrain(cfg, STAGE)


def main(argv: list[str] | None = None, prog: str = "python -m jobs.scl") -> dict:
    return stage_main(STAGE, __doc__.split("\n")[0], argv, prog)


if __name__ == "__main__":
    main()
