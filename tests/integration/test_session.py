"""The local Ray runtime: its workers' Ray Train settings, and where a pipeline evaluation runs (in the job's
own process, after the runtime is stopped)."""

import os

import ray

from tkre.launch.session import RUNTIME_ENV_VARS, init_ray, run_with_resources


def worker_environment(key):
    return ray.get(ray.remote(lambda: os.environ.get(key)).remote())


def test_a_local_runtime_passes_its_ray_train_settings_to_its_workers_and_keeps_a_users_own(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for key, value in RUNTIME_ENV_VARS.items():
        monkeypatch.delenv(key, raising=False)
        init_ray()
        assert worker_environment(key) == value
        ray.shutdown()
        monkeypatch.setenv(key, "1.5")
        init_ray()
        assert worker_environment(key) == "1.5"
        ray.shutdown()


def test_without_a_cluster_the_work_runs_here_after_the_local_runtime_is_stopped(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    init_ray()
    assert ray.is_initialized()
    seen = run_with_resources(lambda arg: (arg, os.getpid(), ray.is_initialized()), "cfg", cpus=2, gpus=0)
    assert seen == ("cfg", os.getpid(), False)
