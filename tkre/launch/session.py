"""The Ray runtime a job runs on: joined or started once, stopped at the end of a command.

``ray.init`` joins the cluster at ``RAY_ADDRESS`` when it is set, else starts a local runtime.

Usage::

    init_ray()      # before the first Ray call of a job (a local runtime: RUNTIME_ENV_VARS, no dashboard)
    stop_ray()      # at the end of a command, so worker logs end before its summary line
    run_with_resources(evaluate, cfg, cpus=2, gpus=0)   # fn(cfg): a Ray task on a cluster, else here
"""

from __future__ import annotations

import os
import sys

# Ray Train's controller collects the workers' reports every RAY_TRAIN_HEALTH_CHECK_INTERVAL_S (2 s by
# default), and a worker's report waits until the one before it was collected: reports less than 2 s
# apart held every worker up to 2 s each (a 12-step job with a report per step: 20 s of training at 2 s,
# 1.2 s at 0.1 s; benchmarks/pretrain_throughput.py, one report in all, is the same at both). A local
# runtime's processes inherit this process's environment; a cluster's jobs get the same variables from
# cluster/runtime_env.yaml. A value already in the environment is kept.
RUNTIME_ENV_VARS = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1"}


def init_ray() -> None:
    """Joins ``RAY_ADDRESS`` or starts a local runtime, unless this process already has one.

    A local runtime runs without Ray's dashboard unless ``TKRE_RAY_DASHBOARD=1``: on 2 cores its
    processes took about 3 CPU-seconds to start and stop, and a 4-step MSLM job 1.2 to 2.7 s longer.
    """
    import ray

    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(logging_level="warning")
        return
    for key, value in RUNTIME_ENV_VARS.items():
        os.environ.setdefault(key, value)
    ray.init(logging_level="warning", include_dashboard=os.environ.get("TKRE_RAY_DASHBOARD") == "1")


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
