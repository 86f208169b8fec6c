"""The smoke pipeline submitted with `ray job submit` to a real two-node Ray cluster on loopback (token auth on).

The runtime env is ``cluster/runtime_env.yaml`` with this machine's data folder; synthesis runs on
the embedded ``transformers serve`` + SmolLM2, as on a laptop.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")


@pytest.mark.timeout(1200)
def test_the_pipeline_submitted_as_a_ray_job_runs_on_both_nodes(tmp_path, free_port):
    # as a secured cluster runs (the token is ~/.ray/auth_token), from a shell with the project's venv active
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

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
        runtime_env = yaml.safe_load((REPO / "cluster" / "runtime_env.yaml").read_text())
        runtime_env["env_vars"].update(TKRE_DATA_DIR=os.environ["TKRE_DATA_DIR"], HF_HUB_OFFLINE="1")
        (tmp_path / "runtime_env.yaml").write_text(yaml.safe_dump(runtime_env))
        run_dir = tmp_path / "pipeline"
        logs = ray_cli("job", "submit", "--address", api, "--working-dir", ".", "--runtime-env", str(tmp_path / "runtime_env.yaml"),
                       "--", "python", "-m", "jobs.pipeline", "--config", "jobs/configs/pipeline/smoke.yaml",
                       "--set", f"run_dir={run_dir}", "--set", "eval_resources.cpus=1", timeout=900)
        assert "succeeded" in logs.lower()
        summary = json.loads(next(line for line in reversed(logs.splitlines()) if line.startswith('{"run_dir"')))
        assert summary["stages"] == {"synth": "ran", "mslm": "ran", "scl": "ran", "eval": "ran"}
        assert "embedded transformers serve" in logs
        manifest = json.loads((run_dir / "synth" / "manifest.json").read_text())
        assert manifest["model"] == "smollm2" and manifest["explanations"]["accepted"] > 0
        assert (run_dir / "scl" / "export" / "model.safetensors").is_file()
        assert (run_dir / "report.md").is_file() and (run_dir / "report.png").is_file()
        assert 0 < summary["eval/val/acc_5w1s/marker"] <= 1
        nodes = json.loads(ray_cli("list", "nodes", "--address", api, "--format", "json"))
        assert len([n for n in nodes if n["state"] == "ALIVE"]) == 2
        workers = json.loads(ray_cli("list", "actors", "--address", api, "--filter", "class_name=RayTrainWorker",
                                     "--detail", "--format", "json"))
        assert len({w["node_id"] for w in workers}) == 2  # one Ray Train worker ran on each node
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120, env=env)
