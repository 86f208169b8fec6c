"""Ray Tune sweeps on local Ray with a tiny model: a tracked 4-trial ASHA sweep, a replay of one trial, a resumed
sweep, and a model-based (Optuna) search stored in S3."""

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tkre.config import config_yaml, load_config
from tkre.train.config import PretrainConfig

REPO = Path(__file__).resolve().parents[2]
BASE = "jobs/configs/scl/sweep_smoke.yaml"


def command(module, *args, sets=()):
    return [sys.executable, "-m", module, *args, *[x for s in sets for x in ("--set", s)]]


def run(cmd, timeout=900, env=None):
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    return done, json.loads(done.stdout.strip().splitlines()[-1])


def rows(folder):
    with open(folder / "results.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.xdist_group("pipeline_reference")  # on the worker whose tracking server the tracked pipeline started
@pytest.mark.timeout(1500)
def test_a_four_trial_asha_sweep_ranks_plots_replays_and_is_tracked(tmp_path, tiny_model, tracking_server):
    from mlflow import MlflowClient

    storage = tmp_path / "sweeps"
    env, uri, _ = tracking_server
    done, summary = run(command("jobs.sweep", "--space", "tune_spaces/smoke.yaml", "--storage", str(storage),
                                sets=[f"init_from={tiny_model}"]), env=env)
    folder = storage / "smoke"
    assert summary["trials"] == 4 and summary["errors"] == 0 and summary["path"] == str(folder)
    table = rows(folder)
    scores = [float(r["val/acc"]) for r in table]
    assert len(table) == 4 and scores == sorted(scores, reverse=True) and summary["best"] == scores[0]
    assert {r["support_k"] for r in table} == {"2", "8"}  # the grid, crossed with two temperature draws
    assert all(0.02 <= float(r["scl.temperature"]) <= 0.5 for r in table)
    for r in table:  # every trial scored on both episodic settings; ASHA may stop a trial after one validation
        assert float(r["val/acc"]) == pytest.approx((float(r["val/acc_5w1s"]) + float(r["val/acc_5w5s"])) / 2)
        assert r["step"] in ("2", "4") and (r["stopped_early"] == "True") == (r["step"] == "2")
        assert r["first_validation"] and (r["step"] == "4" or r["first_validation"] == r["val/acc"])
    assert (folder / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (folder / "results.md").read_text()
    assert markdown.index(table[0]["trial"]) < markdown.index(table[-1]["trial"])

    # any trial replays exactly from the command line with the overrides the table gives
    trial = next(r for r in table if r["step"] == "4")
    overrides = shlex.split(trial["overrides"])[1::2]
    assert f"init_from={tiny_model}" in overrides
    _, replay = run(command("jobs.pretrain", "scl", "--config", BASE, sets=[*overrides, f"run_dir={tmp_path / 'replay'}"]))
    assert replay["val/acc"] == float(trial["val/acc"]) and replay["step"] == 4

    # best.yaml is the best trial's config, ready for the scl job as is
    best = load_config(PretrainConfig, folder / "best.yaml")
    expected = load_config(PretrainConfig, BASE, shlex.split(table[0]["overrides"])[1::2])
    assert best.run_dir == expected.run_dir + "_best"
    best.run_dir = expected.run_dir
    assert config_yaml(best) == config_yaml(expected)
    assert "python -m jobs.pretrain scl --config best.yaml" in (folder / "best.yaml").read_text()

    # in MLflow: the sweep is one run, each trial a run nested under it (Ray Tune's callback) with its reports
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tkre").experiment_id
    (sweep,) = client.search_runs([experiment], f"tags.`tkre.sweep` = '{folder}'")
    assert sweep.info.status == "FINISHED" and sweep.data.metrics["best"] == summary["best"]
    assert sweep.data.params["metric"] == "val/acc" and sweep.data.params["param_space.support_k"] == "grid [2, 8]"
    assert {a.path for a in client.list_artifacts(sweep.info.run_id)} >= {"results.md", "results.png", "best.yaml"}
    trials = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{sweep.info.run_id}'")
    assert len(trials) == 4 and all(t.info.status == "FINISHED" for t in trials)
    assert sorted(t.data.metrics["val/acc"] for t in trials) == sorted(scores)
    last_step = {(float(r["scl.temperature"]), r["support_k"]): r["step"] for r in table}
    for t in trials:  # one point per validation: 1, or 2 when ASHA let the trial go on
        steps = [m.step for m in client.get_metric_history(t.info.run_id, "val/acc")]
        trial = (float(t.data.params["scl.temperature"]), t.data.params["support_k"])
        assert steps == ([1] if last_step[trial] == "2" else [1, 2])


@pytest.mark.timeout(1500)
def test_an_interrupted_sweep_resumes_and_finishes(tmp_path, tiny_model):
    storage = tmp_path / "sweeps"
    cmd = command("jobs.sweep", "--space", "tune_spaces/smoke.yaml", "--storage", str(storage), "--name", "resumed",
                  sets=[f"init_from={tiny_model}", "loop.max_steps=40", "loop.eval_every=20", "scl.in_batch_negatives=false"])
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    folder = storage / "resumed"
    deadline = time.time() + 600
    while time.time() < deadline and not checkpoint_recorded(folder):  # in the sweep's state, not just on disk
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-4000:]
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)  # the driver and the local Ray it started, mid-trial
    first.wait()
    assert list(folder.glob("*/checkpoint_*")) and not (folder / "results.csv").exists()

    done, summary = run(cmd)
    assert "restoring the sweep in" in done.stderr
    assert "[train] resumed at step" in done.stdout + done.stderr  # a trial went on from its checkpoint
    assert summary["trials"] == 4 and summary["errors"] == 0
    assert all(r["step"] in ("20", "40") and r["val/acc"] for r in rows(folder))
    config = yaml.safe_load((folder / "best.yaml").read_text())
    assert config["loop"]["max_steps"] == 40 and config["scl"]["in_batch_negatives"] is False


def checkpoint_recorded(folder):
    return any("checkpoint_000000" in p.read_text() for p in folder.glob("experiment_state-*.json"))


@pytest.mark.timeout(1500)
def test_a_model_based_optuna_search_stored_in_s3(tmp_path, tiny_model, moto_s3):
    env, s3 = moto_s3
    s3.create_bucket(Bucket="tkre")
    space = tmp_path / "space.yaml"
    space.write_text(Path(REPO / "tune_spaces/smoke.yaml").read_text().replace("search: random", "search: optuna")
                     .replace("support_k: {grid: [2, 8]}", "support_k: {choice: [2, 8]}"))
    done = subprocess.run(command("jobs.sweep", "--space", str(space), "--storage", "s3://tkre/sweeps",
                                  sets=[f"init_from={tiny_model}"]), cwd=REPO, capture_output=True, text=True,
                          timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["path"] == "s3://tkre/sweeps/space" and summary["trials"] == 2 and summary["errors"] == 0
    keys = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="tkre") for o in page["Contents"]}
    assert {f"sweeps/space/{name}" for name in ("results.csv", "results.md", "results.png", "best.yaml", "summary.json")} <= keys
    assert any("/checkpoint_" in k and k.endswith("model.safetensors") for k in keys)  # trial checkpoints with their export
    table = list(csv.DictReader(s3.get_object(Bucket="tkre", Key="sweeps/space/results.csv")["Body"].read().decode().splitlines()))
    assert len(table) == 2 and all(r["val/acc"] for r in table)  # both trials scored
    best = s3.get_object(Bucket="tkre", Key="sweeps/space/best.yaml")["Body"].read().decode()
    assert "support_k:" in best and "testing-secret" not in best and "testing-secret" not in done.stdout + done.stderr
    assert not (tmp_path / "sweeps").exists() and not (REPO / "s3:").exists()
