"""The Ray runtime a job runs on: joined or started once, stopped at the end of a command.

``ray.init`` joins the cluster at ``RAY_ADDRESS`` when it is set, else starts a local runtime.

Usage::

    init_ray()      # before the first Ray call of a job
    stop_ray()      # at the end of a command, so worker logs end before its summary line
    run_with_resources(evaluate, cfg, cpus=2, gpus=0)   # fn(cfg): a Ray task on a cluster, else here
"""

from __future__ import annotations

import os
import sys


def init_ray() -> None:
    """Joins ``RAY_ADDRESS`` or starts a local runtime, unless this process already has one."""
    import ray

    if not ray.is_initialized():
        ray.init(logging_level="warning")


def stop_ray() -> None:
    """Stops this process's Ray runtime if it started one; imports nothing when Ray was never used."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def run_with_resources(fn, arg, cpus: float, gpus: float):
    """``fn(arg)`` as a Ray task with these resources on the cluster at ``RAY_ADDRESS`` (a GPU node there);
    returns its result. Without ``RAY_ADDRESS`` it runs in this process, after the local runtime is
    stopped: on one machine the task gains nothing, and the runtime's idle daemons and workers slow the
    compute of a 2-core machine by about 10% (``benchmarks/ray_background.py``). A later Ray call starts
    the runtime again."""
    if not os.environ.get("RAY_ADDRESS"):
        stop_ray()
        return fn(arg)
    import ray

    init_ray()
    return ray.get(ray.remote(num_cpus=cpus, num_gpus=gpus)(fn).remote(arg))
