"""The local Ray runtime: the Ray Train settings its workers get, its dashboard (off unless asked for), and
where a pipeline evaluation runs (in the job's own process, after the runtime is stopped)."""

import os
from pathlib import Path

import ray

from tkre.launch.session import RUNTIME_ENV_VARS, init_ray, run_with_resources


def worker_environment() -> dict:
    return ray.get(ray.remote(lambda: {key: os.environ.get(key) for key in RUNTIME_ENV_VARS}).remote())


def dashboard_running() -> bool:
    """Whether this process's local runtime serves the dashboard (Ray starts its process as a child of the
    driver; without the dashboard that process only collects usage stats, with its frontend disabled)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):  # ended meanwhile
            continue
        if ppid == os.getpid() and b"dashboard/dashboard.py" in cmdline and b"--disable-frontend" not in cmdline:
            return True
    return False


def test_a_local_runtime_gives_its_workers_the_ray_train_settings_and_work_runs_here_after_it_is_stopped(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("TKRE_RAY_DASHBOARD", raising=False)
    for key in RUNTIME_ENV_VARS:
        monkeypatch.delenv(key, raising=False)
    init_ray()
    assert worker_environment() == RUNTIME_ENV_VARS
    assert not dashboard_running()
    seen = run_with_resources(lambda arg: (arg, os.getpid(), ray.is_initialized()), "cfg", cpus=2, gpus=0)
    assert seen == ("cfg", os.getpid(), False)

    for key in RUNTIME_ENV_VARS:  # a user's own values are kept, and the dashboard runs when asked for
        monkeypatch.setenv(key, "1.5")
    monkeypatch.setenv("TKRE_RAY_DASHBOARD", "1")
    init_ray()
    assert worker_environment() == {key: "1.5" for key in RUNTIME_ENV_VARS}
    assert dashboard_running()
    ray.shutdown()
