"""What MLflow tracking costs a stage: the demo's MSLM stage run as ``tkre mslm``, untracked and tracked, in turns.

The stage is the demo pipeline's ``mslm`` section (40 steps of MiniLM on 2 Ray Train workers with
DeepSpeed, a log every 5 steps) on the committed corpus. Tracked runs go to MLflow's default local
store (a fresh ``mlflow.db`` in a scratch folder): the job checks it and opens a run, rank 0 sends
every report from its own thread, and the driver logs the params, the export's card and the
metrics. Each run is timed whole (the command, start-up included) and by the job's own ``wall_s``
(training and export). Untracked and tracked runs alternate, so drift hits both alike; on 2 cores
their spread is several seconds, so the tracking calls are also timed alone, in a fresh process as
in a job: what the driver waits for (the check with mlflow's import, the run, the params; at the
end the tags, metrics, card and the run's end) and the per-step thread, against the local store and
against a real ``mlflow server`` on loopback.
Last stdout line: one JSON object with the medians, the overhead in percent, the direct timings
and every run.

Usage: ``python benchmarks/tracking_overhead.py [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# The tracking calls of a tracked mslm job, in the order the job makes them, timed in a fresh process: the
# driver's (a standalone job, then the same again warm, as a pipeline's later stages make them), then rank
# 0's per-step thread in another fresh process (a Ray Train worker imports mlflow there).
DIRECT = r"""
import json, subprocess, sys, tempfile, time
from tkre.config import load_config
from tkre.storage import open_storage
from tkre.tracking import TrackingSettings, open_tracking
from tkre.train.config import PretrainConfig

WORKER = '''
import json, sys, time
from tkre.tracking import StepLogger
t = time.perf_counter()
logger = StepLogger(json.loads(sys.argv[1]))
for step in range(5, 45, 5):
    logger({"step": step, "epoch": 0, "loss": 7.0, "mslm": 7.0, "tokens_per_s": 60.0})
enqueue = time.perf_counter() - t
logger.close()
print(json.dumps({"step_enqueue_s": round(enqueue, 4), "step_thread_s": round(time.perf_counter() - t, 2)}))
'''


def driver(cfg):
    run_dir = tempfile.mkdtemp()
    store = open_storage(run_dir)
    store.write_text("config.yaml", "x: 1")
    t = time.perf_counter()
    run = open_tracking(TrackingSettings(uri=sys.argv[2])).start("mslm", cfg, record=store)
    start = time.perf_counter() - t
    remote = run.remote(run_dir)
    t = time.perf_counter()
    run.tags({"tkre.export": run_dir}); run.metrics({"wall_s": 80.0}); run.artifacts(store, ["config.yaml"]); run.end()
    return round(start, 2), round(time.perf_counter() - t, 2), remote


cfg = load_config(PretrainConfig, sys.argv[1])
start, end, remote = driver(cfg)
warm_start, warm_end, _ = driver(cfg)
worker = subprocess.run([sys.executable, "-c", WORKER, json.dumps(remote)], capture_output=True, text=True, check=True)
print(json.dumps({"driver_start_s": start, "driver_end_s": end, "warm_driver_start_s": warm_start,
                  "warm_driver_end_s": warm_end, **json.loads(worker.stdout.strip().splitlines()[-1])}))
"""


def stage_config(folder: Path) -> Path:
    """The demo's mslm section as a job config on the committed corpus."""
    demo = yaml.safe_load((REPO / "jobs/configs/pipeline/demo.yaml").read_text())
    path = folder / "mslm.yaml"
    path.write_text(yaml.safe_dump({**demo["mslm"], "corpus": "corpora/wiki80_k8_smollm2", "init_from": demo["model"]}))
    return path


def one_run(config: Path, run_dir: Path, tracked: bool, store: Path) -> dict:
    env = {**os.environ, "TKRE_TRACKING": "on" if tracked else "off", "MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "jobs.pretrain", "mslm", "--config", str(config), "--set", f"run_dir={run_dir}"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {"tracked": tracked, "command_s": round(wall, 1), "job_wall_s": summary["wall_s"], "loss": summary["loss"]}


def direct(config: Path, uri: str) -> dict:
    done = subprocess.run([sys.executable, "-c", DIRECT, str(config), uri], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "TKRE_TRACKING": "on"})
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def direct_against_a_server(config: Path, folder: Path) -> dict:
    """``direct`` against a real ``mlflow server`` (SQLite backend, artifacts proxied to a folder) on loopback."""
    folder.mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
                               f"sqlite:///{folder}/mlflow.db", "--artifacts-destination", str(folder / "artifacts"),
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        direct(config, f"http://127.0.0.1:{port}")  # the experiment made once, as on a team's server
        return direct(config, f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait()


def logged_points(store: Path) -> int:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("tkre").experiment_id])
    return sum(len(client.get_metric_history(r.info.run_id, "loss")) for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tkre-tracking-bench-"))
    config, store = stage_config(scratch), scratch / "store"
    store.mkdir()
    runs = []
    for i in range(args.repeats):
        for tracked in (False, True):
            runs.append(one_run(config, scratch / f"run-{i}-{int(tracked)}", tracked, store))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    median = {f"{key}_{state}": statistics.median(r[key] for r in runs if r["tracked"] == (state == "tracked"))
              for key in ("command_s", "job_wall_s") for state in ("untracked", "tracked")}
    overhead = {key: round(100 * (median[f"{key}_tracked"] / median[f"{key}_untracked"] - 1), 2)
                for key in ("command_s", "job_wall_s")}
    timed = {"local_store": direct(config, f"sqlite:///{store}/mlflow.db"),
             "server": direct_against_a_server(config, scratch / "server")}
    on_path_pct = {f"{k}, {w}": round(100 * (t[f"{w}driver_start_s"] + t[f"{w}driver_end_s"]) / median["command_s_untracked"], 2)
                   for k, t in timed.items() for w in ("", "warm_")}
    print(json.dumps({"median": median, "overhead_pct": overhead, "direct": timed,
                      "direct_driver_pct_of_untracked_command": on_path_pct, "loss_points_logged": logged_points(store),
                      "runs": runs, "repeats": args.repeats, "cpu_cores": os.cpu_count(),
                      "machine": platform.processor() or platform.machine()}))


if __name__ == "__main__":
    main()
