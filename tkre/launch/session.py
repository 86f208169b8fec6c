"""The Ray runtime a job runs on: joined or started once, stopped at the end of a command.

``ray.init`` joins the cluster at ``RAY_ADDRESS`` when it is set, else starts a local runtime.

Usage::

    init_ray()      # before the first Ray call of a job
    stop_ray()      # at the end of a command, so worker logs end before its summary line
    run_as_task(evaluate, cfg, cpus=2, gpus=0)   # fn(cfg) on a node with these resources
"""

from __future__ import annotations

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


def run_as_task(fn, arg, cpus: float, gpus: float):
    """``fn(arg)`` as a Ray task with these resources (a GPU node on a cluster); returns its result."""
    import ray

    init_ray()
    return ray.get(ray.remote(num_cpus=cpus, num_gpus=gpus)(fn).remote(arg))
