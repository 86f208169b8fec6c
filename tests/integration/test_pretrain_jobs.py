"""Both pre-training stages on 2 Ray Train CPU workers with DeepSpeed ZeRO-1: checkpoints, exports, stage chaining."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tkre.models.encoder import resolve_model

RANK_SHARDS = ["zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"]


def job(stage, config, *overrides, env=None):
    done = subprocess.run([sys.executable, "-m", "jobs.pretrain", stage, "--config", config,
                           *[x for o in overrides for x in ("--set", o)]],
                          capture_output=True, text=True, timeout=900, env={**(env or os.environ), "HF_HUB_OFFLINE": "1"})
    lines = done.stdout.strip().splitlines()
    return done, json.loads(lines[-1]) if done.returncode == 0 else None  # the summary is the last stdout line


def encoder_weights(folder):
    return {k.removeprefix("bert."): v for k, v in load_file(os.path.join(folder, "model.safetensors")).items()
            if "embeddings.word_embeddings" in k or "encoder.layer.5.output.dense.weight" in k}


@pytest.mark.timeout(1200)
def test_mslm_into_s3_then_scl_from_its_s3_export_into_a_folder(tmp_path, moto_s3):
    env, s3 = moto_s3
    s3.create_bucket(Bucket="tkre")
    scratch = tmp_path / "tmp"  # the workers' temporary folder, this job's alone (Ray's own files stay in /tmp)
    scratch.mkdir()
    done, mslm = job("mslm", "jobs/configs/mslm/smoke.yaml", "run_dir=s3://tkre/runs/mslm",
                     env={**env, "TMPDIR": str(scratch), "RAY_TMPDIR": "/tmp"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert not list(scratch.glob("tkre-rank*"))  # the workers' scratch folders are gone, with what they uploaded
    assert mslm["step"] == 4 and mslm["mslm"] > 0
    assert mslm["export"] == "s3://tkre/runs/mslm/export" and mslm["checkpoint"].startswith("s3://tkre/runs/mslm/train/")
    keys = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="tkre") for o in page["Contents"]}
    assert {"runs/mslm/config.yaml", "runs/mslm/metrics.json", "runs/mslm/export/model.safetensors"} <= keys
    assert {f"runs/mslm/export/{name}" for name in ("tkre.json", "README.md", "modules.json")} <= keys  # the card
    shards = sorted(k.rsplit("/", 1)[1] for k in keys if k.endswith("_optim_states.pt"))
    assert shards == sorted(RANK_SHARDS * 2)  # 2 checkpoints (steps 2 and 4) x 2 ranks
    config = s3.get_object(Bucket="tkre", Key="runs/mslm/config.yaml")["Body"].read().decode()
    assert "init_from: minilm" in config and "testing-secret" not in config

    exported = tmp_path / "stage1"
    exported.mkdir()
    s3.download_file("tkre", "runs/mslm/export/model.safetensors", str(exported / "model.safetensors"))
    stage1, base = encoder_weights(exported), encoder_weights(resolve_model("minilm"))
    assert any(not torch.equal(stage1[k], base[k]) for k in base)  # stage 1 trained

    # stage 2 reads its init_from from S3; with a zero learning rate it exports exactly those weights
    done, scl = job("scl", "jobs/configs/scl/smoke.yaml", f"run_dir={tmp_path / 'scl'}",
                    "init_from=s3://tkre/runs/mslm/export", "engine.lr=0.0", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert scl["step"] == 4 and scl["scl"] > 0
    assert all(torch.equal(v, stage1[k]) for k, v in encoder_weights(tmp_path / "scl" / "export").items())
    card = (tmp_path / "scl" / "export" / "tkre.json").read_text()
    stages = json.loads(card)["stages"]  # the S3 export's stage, inherited, then this one
    assert [s["stage"] for s in stages] == ["mslm", "scl"] and stages[1]["metrics"]["step"] == 4
    assert json.loads(card)["base_model"] == "sentence-transformers/all-MiniLM-L6-v2" and "testing-secret" not in card
    checkpoints = sorted(p for p in (tmp_path / "scl" / "train").glob("checkpoint_*") if p.is_dir())
    assert len(checkpoints) == 2  # steps 2 and 4, in the folder
    assert set(RANK_SHARDS) <= {p.name for p in (checkpoints[-1] / "deepspeed").iterdir()}


def test_tkre_scl_without_a_stage_1_export_is_refused_before_any_work(tmp_path):
    done = subprocess.run([sys.executable, "-m", "jobs.cli", "scl", "--config", "jobs/configs/scl/smoke.yaml", "--set", f"run_dir={tmp_path / 'scl'}",
                           "--set", "init_from=null"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert ("tkre scl: error: --set init_from=null: init_from: the scl stage starts from the stage-1 export"
            in done.stderr)
    assert not (tmp_path / "scl").exists()


def descendants(root):
    """``(pid, args)`` of every process below ``root`` (the job's own Ray runtime, not any other)."""
    rows = [line.split(None, 2) for line in subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True,
                                                          text=True).stdout.splitlines()[1:]]
    children, found, todo = {}, [], [root]
    for pid, ppid, *args in rows:
        children.setdefault(int(ppid), []).append((int(pid), args[0] if args else ""))
    while todo:
        for pid, args in children.get(todo.pop(), []):
            found.append((pid, args))
            todo.append(pid)
    return found


@pytest.mark.timeout(1200)
def test_a_worker_killed_mid_run_is_replaced_and_training_resumes_from_the_last_checkpoint(tmp_path):
    import re
    import signal
    import time

    run_dir = tmp_path / "mslm"
    job = subprocess.Popen([sys.executable, "-m", "jobs.pretrain", "mslm", "--config", "jobs/configs/mslm/smoke.yaml",
                            "--set", f"run_dir={run_dir}", "--set", "loop.max_steps=12", "--set", "workers.max_failures=1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.time() + 600
    while killed is None and time.time() < deadline and job.poll() is None:
        # once a second checkpoint is being written, the first is registered with Ray Train
        if sum(p.is_dir() for p in (run_dir / "train").glob("checkpoint_*")) >= 2:
            processes = descendants(job.pid)
            workers = [pid for pid, args in processes if "ray::RayTrainWorker" in args]
            if workers:
                controller = next(pid for pid, args in processes if "ray::TrainController" in args)
                environ = Path(f"/proc/{controller}/environ").read_bytes().split(b"\0")
                os.kill(workers[-1], signal.SIGKILL)
                killed = workers[-1]
        time.sleep(0.2)
    stdout, stderr = job.communicate(timeout=900)
    assert killed, "no checkpoint appeared before the job ended"
    assert job.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["step"] == 12
    resumed = [int(s) for s in re.findall(r"\[train\] resumed at step (\d+)", stderr)]
    assert resumed and resumed[0] >= 2 and resumed[0] % 2 == 0  # from a checkpoint, nothing before it repeated
    # the controller collected the reports at the job's own interval, not Ray Train's 2 s
    assert b"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S=0.1" in environ
