"""The smoke pipeline submitted with `ray job submit` to a real two-node Ray cluster on loopback (token auth on),
stopped after it without touching any other Ray on the machine (the suite runs tests in parallel).

The runtime env is ``cluster/runtime_env.yaml`` with this machine's data folder; synthesis runs on
the embedded ``transformers serve`` + SmolLM2, as on a laptop: this is the suite's end-to-end test of
synthesis through SmolLM2 (the synthesis tests talk to a scripted LLM over HTTP). MSLM starts from the
tiny BERT: what is under test is the placement on the cluster, not the encoder (the pipeline tests train MiniLM).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from synth_helpers import read_outputs

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")


@pytest.mark.timeout(1200)
def test_the_pipeline_submitted_as_a_ray_job_runs_on_both_nodes(tmp_path, free_port, tiny_model):
    # as a secured cluster runs (the token is ~/.ray/auth_token), from a shell with the project's venv active
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def ray_cli(*args, timeout=180):
        for _ in range(6):  # a busy head may not have its job agent up yet: the API says to try again later
            done = subprocess.run([RAY, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
            if "No available agent to submit job" not in done.stdout + done.stderr:
                break
            time.sleep(2)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    ray_cli("get-auth-token", "--generate")
    port, dashboard = free_port(), free_port()
    api = f"http://127.0.0.1:{dashboard}"
    # Each node in the foreground (--block) in its own session, so that stopping them stops this cluster only
    # (`ray stop` would stop every Ray on the machine); its own temp dir keeps `ray.init()` elsewhere from joining it.
    temp_dir = tempfile.mkdtemp(prefix="rayjobs-", dir="/tmp")
    common = ["--block", "--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    head = ["--head", f"--port={port}", f"--temp-dir={temp_dir}", "--include-dashboard=true",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", f"--ray-client-server-port={free_port()}"]

    def own_ports():  # the agents' fixed default ports would clash with the other node's and with any other Ray here
        return [f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
                f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}"]

    nodes = [subprocess.Popen([RAY, "start", *head, *own_ports(), *common], env=env, cwd=REPO, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_for(lambda: os.path.exists(os.path.join(temp_dir, "ray_current_cluster")), "the head node")
        nodes.append(subprocess.Popen([RAY, "start", f"--address=127.0.0.1:{port}", *own_ports(), *common], env=env,
                                      cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: alive_nodes(api, env) == 2, "the second node")
        runtime_env = yaml.safe_load((REPO / "cluster" / "runtime_env.yaml").read_text())
        runtime_env["env_vars"].update(TKRE_DATA_DIR=os.environ["TKRE_DATA_DIR"], HF_HUB_OFFLINE="1")
        (tmp_path / "runtime_env.yaml").write_text(yaml.safe_dump(runtime_env))
        run_dir = tmp_path / "pipeline"
        logs = ray_cli("job", "submit", "--address", api, "--working-dir", ".", "--runtime-env", str(tmp_path / "runtime_env.yaml"),
                       "--", "python", "-m", "jobs.pipeline", "--config", "jobs/configs/pipeline/smoke.yaml",
                       "--set", f"run_dir={run_dir}", "--set", f"model={tiny_model}", "--set", "eval_resources.cpus=1",
                       timeout=900)
        assert "succeeded" in logs.lower()
        summary = json.loads(next(line for line in reversed(logs.splitlines()) if line.startswith('{"run_dir"')))
        assert summary["stages"] == {"synth": "ran", "mslm": "ran", "scl": "ran", "finetune": "ran", "eval": "ran"}
        check_smollm2_synthesis(run_dir / "synth", logs)
        assert (run_dir / "scl" / "export" / "model.safetensors").is_file()
        assert (run_dir / "report.md").is_file() and (run_dir / "report.png").is_file()
        assert 0 < summary["eval/val/acc_5w1s/marker"] <= 1
        assert alive_nodes(api, env) == 2
        workers = json.loads(ray_cli("list", "actors", "--address", api, "--filter", "class_name=RayTrainWorker",
                                     "--detail", "--format", "json"))
        assert len({w["node_id"] for w in workers}) == 2  # one Ray Train worker ran on each node
        tasks = json.loads(ray_cli("list", "tasks", "--address", api, "--filter", "func_or_class_name=evaluation",
                                   "--format", "json"))
        assert [t["state"] for t in tasks] == ["FINISHED"]  # on a cluster fine-tuning and evaluation are Ray tasks
        tasks = json.loads(ray_cli("list", "tasks", "--address", api, "--filter", "func_or_class_name=fine_tuning",
                                   "--format", "json"))
        assert [t["state"] for t in tasks] == ["FINISHED"]
    finally:
        for node in reversed(nodes):  # a node started with --block stops its processes on SIGTERM
            node.terminate()
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
    assert not processes_mentioning(temp_dir)  # the cluster is stopped: no raylet, GCS or dashboard of it is left
    shutil.rmtree(temp_dir, ignore_errors=True)


def check_smollm2_synthesis(out: Path, logs: str) -> None:
    """The smoke synthesis (2 relations x 4 support instances, one SCDG request each) ran on the embedded
    SmolLM2, every candidate is accounted for, and the server was stopped with the stage."""
    manifest, explanations, synthetic = read_outputs(out)
    assert manifest["model"] == "smollm2" and manifest["endpoint"] == "embedded transformers serve"
    assert manifest["support"]["relations"] == 2 and manifest["explanations"]["accepted"] > 0
    assert manifest["requests"]["edkg"]["done"] == 8 and manifest["requests"]["scdg"]["done"] == 2
    assert manifest["tokens_out"] > 0 and len(explanations) + sum(manifest["explanations"]["rejects"].values()) == 8
    relations = set(manifest["synthetic"]["per_relation"])
    assert len(relations) == 2 and {x["relation"] for x in explanations} <= relations
    assert {x.relation for x in synthetic} <= relations
    assert manifest["synthetic"]["candidates"] == len(synthetic) + sum(
        v for k, v in manifest["rejects"].items() if k not in ("no_instances", "malformed_json", "over_quota"))
    url = re.search(r"embedded transformers serve on (\S+)/v1", logs).group(1)
    with pytest.raises(OSError):  # the server was stopped
        urllib.request.urlopen(f"{url}/health", timeout=2)


def alive_nodes(api: str, env: dict) -> int:
    """Nodes the cluster lists as alive (0 while its dashboard does not answer yet)."""
    done = subprocess.run([RAY, "list", "nodes", "--address", api, "--format", "json"], capture_output=True, text=True,
                          timeout=60, env=env)
    return sum(1 for n in json.loads(done.stdout) if n["state"] == "ALIVE") if done.returncode == 0 else 0


def wait_for(condition, what, timeout=120):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"{what} did not come up in {timeout} s"
        time.sleep(1)


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        if text in line:
            found.append(line)
    return found
