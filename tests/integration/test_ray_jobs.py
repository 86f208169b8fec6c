"""A job submitted with `ray job submit` to a real two-node Ray cluster on loopback (token auth on)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")


@pytest.mark.timeout(900)
def test_pretraining_submitted_as_a_ray_job_runs_on_both_nodes(tmp_path, free_port):
    env = {**os.environ, "RAY_AUTH_MODE": "token"}  # as a secured cluster runs; the token is ~/.ray/auth_token

    def ray_cli(*args, timeout=180):
        done = subprocess.run([RAY, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    ray_cli("get-auth-token", "--generate")
    port, dashboard = free_port(), free_port()
    api = f"http://127.0.0.1:{dashboard}"
    ray_cli("start", "--head", f"--port={port}", "--num-cpus=1", "--node-ip-address=127.0.0.1", "--include-dashboard=true",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--disable-usage-stats")
    try:
        ray_cli("start", f"--address=127.0.0.1:{port}", "--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats")
        runtime_env = {"working_dir": ".", "excludes": [".venv/", "runs/", ".git/", "data/", "*.egg-info/"],
                       "env_vars": {"TKRE_DATA_DIR": os.environ["TKRE_DATA_DIR"], "HF_HUB_OFFLINE": "1"}}
        logs = ray_cli("job", "submit", "--address", api, "--runtime-env-json", json.dumps(runtime_env), "--",
                       sys.executable, "-m", "jobs.pretrain_mslm", "--config", "jobs/configs/pretrain_mslm/smoke.yaml",
                       "--set", f"run_dir={tmp_path / 'mslm'}", timeout=600)
        assert "succeeded" in logs.lower() and '"stage": "mslm"' in logs  # the job's status and summary line
        assert (tmp_path / "mslm" / "export" / "model.safetensors").is_file()
        assert (tmp_path / "mslm" / "config.yaml").is_file() and (tmp_path / "mslm" / "metrics.json").is_file()
        nodes = json.loads(ray_cli("list", "nodes", "--address", api, "--format", "json"))
        assert len([n for n in nodes if n["state"] == "ALIVE"]) == 2
        workers = json.loads(ray_cli("list", "actors", "--address", api, "--filter", "class_name=RayTrainWorker",
                                     "--detail", "--format", "json"))
        assert len({w["node_id"] for w in workers}) == 2  # one Ray Train worker ran on each node
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120, env=env)
