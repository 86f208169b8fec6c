"""Where a pipeline evaluation runs: in the job's own process on a local runtime, which is stopped first."""

import os

import ray

from tkre.launch.session import init_ray, run_with_resources


def test_without_a_cluster_the_work_runs_here_after_the_local_runtime_is_stopped(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    init_ray()
    assert ray.is_initialized()
    seen = run_with_resources(lambda arg: (arg, os.getpid(), ray.is_initialized()), "cfg", cpus=2, gpus=0)
    assert seen == ("cfg", os.getpid(), False)
