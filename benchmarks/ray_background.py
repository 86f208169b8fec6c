"""What Ray's own processes cost a training loop on a small machine: the plain MSLM loop, alone and beside Ray.

Runs ``benchmarks/pretrain_throughput.py``'s plain loop (no Ray in its process) three ways on every
core: alone; beside a local Ray runtime (``ray.init``) with nothing in it; beside a Ray Train run
(``tkre.launch.ray_train.fit``, the job's own wiring) whose one worker sleeps, so that only Ray's
processes and Ray Train's helper actors run; then alone again. The ratio of each to the mean of the
two quiet runs is what those processes take from training compute, before any DeepSpeed or Ray
Train code runs a step.
Last stdout line: one JSON object with ``tokens_per_s`` per case and ``ratio`` per case.

Usage: ``python benchmarks/ray_background.py [--steps 25]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

from pretrain_throughput import mslm_config, plain_tokens_per_s

from tkre.train.config import PretrainConfig

# A separate process keeps Ray out of the measured one: a local runtime, or a Ray Train run whose worker sleeps.
BACKGROUND = r"""
import sys, tempfile, time
from tkre.launch.session import init_ray
init_ray()
if sys.argv[1] == "train":
    from tkre.launch.ray_train import fit
    fit(lambda c: time.sleep(c["s"]), {"s": float(sys.argv[2])}, num_workers=1, use_gpu=False,
        storage_path=tempfile.mkdtemp(), name="idle", cpus_per_worker=1.0)
else:
    time.sleep(float(sys.argv[2]))
"""


def beside(kind: str, cfg: PretrainConfig, settle_s: float = 30.0) -> float:
    """The plain loop's tokens/s while ``kind`` (ray or train) runs in another process."""
    background = subprocess.Popen([sys.executable, "-c", BACKGROUND, kind, "600"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(settle_s)  # Ray and the Train actors started, and quiet
        return plain_tokens_per_s(cfg)
    finally:
        os.killpg(background.pid, signal.SIGKILL)  # the driver and the Ray processes it started, nothing else
        background.wait()
        time.sleep(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args()
    cfg = mslm_config(tempfile.mkdtemp(prefix="tkre-bench-"), args.steps)
    measured = {"alone": plain_tokens_per_s(cfg)}
    measured["beside_ray_init"] = beside("ray", cfg)
    measured["beside_idle_ray_train"] = beside("train", cfg)
    measured["alone_again"] = plain_tokens_per_s(cfg)
    quiet = (measured["alone"] + measured["alone_again"]) / 2
    print(json.dumps({
        "tokens_per_s": {k: round(v, 1) for k, v in measured.items()},
        "ratio": {k: round(measured[k] / quiet, 4) for k in ("beside_ray_init", "beside_idle_ray_train")},
        "steps": args.steps, "cpu_cores": os.cpu_count(), "machine": platform.processor() or platform.machine(),
    }))


if __name__ == "__main__":
    main()
