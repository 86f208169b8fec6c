"""The pipeline end to end on local Ray: a full run and a rerun that skips everything, the same run in S3 killed
in the middle of a training stage and resumed to the same counts, and fail-fast checks from the command line.

Synthesis talks to a scripted LLM over HTTP here so that two runs can be compared count for count;
the embedded SmolLM2 runs in the Ray Jobs test.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from synth_helpers import fake_llm

from jobs import predict as jobs_predict
from tkre.testing import FaultServer

REPO = Path(__file__).resolve().parents[2]
OWN_TASK = REPO / "examples" / "own_task"
SMOKE = "jobs/configs/pipeline/smoke.yaml"
# mslm checkpoints at steps 4 and 8 (the S3 run is killed between them), scl at its last step only: each
# checkpoint is about 470 MB (DeepSpeed shards of both ranks and the Hugging Face export) sent through moto
SETTINGS = ["synth.llm.model=fake", "synth.llm.timeout_s=10", "mslm.loop.max_steps=8", "mslm.loop.checkpoint_every=4",
            "scl.loop.checkpoint_every=4"]
PNG = b"\x89PNG\r\n\x1a\n"
SECRET = "sk-pipeline-secret-4242"


def command(run_dir, base_url, *extra):
    sets = [f"run_dir={run_dir}", f"synth.llm.base_url={base_url}", *SETTINGS, *extra]
    return [sys.executable, "-m", "jobs.pipeline", "--config", SMOKE, *[x for s in sets for x in ("--set", s)]]


def run(cmd, env=None):
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900, env=env or os.environ)
    assert done.returncode == 0, done.stderr[-4000:]
    return done, json.loads(done.stdout.strip().splitlines()[-1])


def counts(read):
    """What a run produced, by count: ``read(name)`` returns the text of a file under the run dir."""
    manifest = json.loads(read("synth/manifest.json"))
    results = json.loads(read("eval/results.json"))
    return {"explanations": manifest["explanations"]["accepted"], "synthetic": manifest["synthetic"]["accepted"],
            "synthetic_rows": len(json.loads(read("synth/synthetic.json"))),
            "mslm_step": json.loads(read("mslm/metrics.json"))["step"],
            "scl_step": json.loads(read("scl/metrics.json"))["step"],
            "episodes": {s: r["episodes"] for s, r in results["episodic"]["marker"].items()},
            "task_synthetic": json.loads(read("finetune/results.json"))["synthetic_added"],
            "classifier": json.loads(read("finetune/classifier/classifier.json"))["measured"]["synthetic_instances"]}


@pytest.fixture(scope="session")  # not module: a worker that runs another module between the two would redo it
def reference(tmp_path_factory, tracking_server):
    """An uninterrupted smoke pipeline in a local folder, and its rerun, both tracked on the MLflow server,
    with an LLM key in the environment that must not reach it."""
    run_dir = tmp_path_factory.mktemp("pipeline") / "ref"
    env = {**tracking_server[0], "OPENAI_API_KEY": SECRET}
    with FaultServer(fake_llm) as server:
        first = run(command(run_dir, server.base_url), env)
        again = run(command(run_dir, server.base_url), env)
    return run_dir, first, again


@pytest.mark.xdist_group("pipeline_reference")  # with the next test on one worker: one reference run for both
@pytest.mark.timeout(1200)
def test_the_smoke_pipeline_runs_every_stage_into_one_run_dir_and_a_rerun_skips_them(reference):
    run_dir, (done, summary), (again, rerun) = reference
    assert summary["stages"] == {"synth": "ran", "mslm": "ran", "scl": "ran", "finetune": "ran", "eval": "ran"}
    for line in ("1/5 synth: running into", "2/5 mslm: running into", "5/5 eval: running into"):
        assert f"[pipeline] {line}" in done.stderr
    # each stage was handed the output of the one before
    assert f"init_from: {run_dir}/mslm/export" in (run_dir / "scl" / "config.yaml").read_text()
    assert f"corpus: {run_dir}/synth" in (run_dir / "mslm" / "config.yaml").read_text()
    assert f"model: {run_dir}/scl/export" in (run_dir / "eval" / "config.yaml").read_text()
    tuned = (run_dir / "finetune" / "config.yaml").read_text()
    assert f"model: {run_dir}/scl/export" in tuned and f"synthetic: {run_dir}/synth" in tuned
    assert "dataset: " + str(OWN_TASK) in (run_dir / "synth" / "config.yaml").read_text()  # in-task
    assert (run_dir / "scl" / "export" / "model.safetensors").is_file()
    c = counts(lambda name: (run_dir / name).read_text())
    assert c == {"explanations": 8, "synthetic": 8, "synthetic_rows": 8, "mslm_step": 8, "scl_step": 4,
                 "episodes": {"5-1": 20, "5-5": 20}, "task_synthetic": [8], "classifier": 8}
    card = (run_dir / "finetune" / "classifier" / "README.md").read_text()
    assert "Trained on own_task (seed 13): 24 instances, 8 of them synthetic." in card
    predictions = run_dir / "predictions.jsonl"  # the kept classifier, as `tkre predict` loads it
    jobs_predict.main(["--model", str(run_dir / "finetune" / "classifier"), "--input", str(OWN_TASK / "test.jsonl"),
                       "--output", str(predictions)])
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert len(rows) == 12 and {r["relation"] for r in rows} <= {"born_in", "founded_by", "headquartered_in", "no_relation"}
    assert "| synth | ran |" in done.stdout and "8 explanations, 8 synthetic instances" in done.stdout  # the report
    report = (run_dir / "report.md").read_text()  # rewritten by the rerun
    assert "| synth | skipped |" in report and "8 explanations, 8 synthetic instances" in report
    assert "| TKRE (mslm + scl) / marker |" in report and "## K-shot fine-tuning" in report
    assert (run_dir / "report.png").read_bytes()[:8] == PNG
    assert "| finetune | ran |" in done.stdout and "8 synthetic instances trained on" in done.stdout
    state = json.loads((run_dir / "pipeline.json").read_text())
    assert all(state["stages"][s]["complete"] for s in ("synth", "mslm", "scl", "finetune", "eval"))
    assert 0 <= summary["finetune/test/f1_own_task"] <= 1
    assert 0.2 < summary["eval/val/acc_5w1s/marker"] <= 1.0  # above chance on 5-way episodes

    # the rerun finds every stage done with the same config hash
    assert set(rerun["stages"].values()) == {"skipped"} and len(rerun["stages"]) == 5
    assert "[pipeline] 3/5 scl: done before with the same config" in again.stderr
    assert {k: v for k, v in rerun.items() if "/" in k} == {k: v for k, v in summary.items() if "/" in k}


@pytest.mark.xdist_group("pipeline_reference")
def test_the_tracked_smoke_pipeline_is_one_parent_run_with_a_run_per_stage_and_its_rerun_adds_none(
        reference, tracking_server, monkeypatch, tmp_path):
    from mlflow import MlflowClient

    run_dir, (_, summary), _ = reference
    _, uri, s3 = tracking_server
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tkre").experiment_id
    (parent,) = client.search_runs([experiment], f"tags.`tkre.run_dir` = '{run_dir}'")  # the rerun reopened it
    assert parent.info.run_name == "pipeline" and parent.info.status == "FINISHED"
    assert {k: v for k, v in parent.data.metrics.items() if "/" in k} == {k: v for k, v in summary.items() if "/" in k}
    assert parent.data.params["task.dataset"] == str(OWN_TASK) and parent.data.params["mslm.loop.max_steps"] == "8"
    stages = {r.info.run_name: r for r in client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")}
    assert sorted(stages) == ["eval", "finetune", "mslm", "scl", "synth"]  # one each: the rerun skipped them all
    assert all(r.info.status == "FINISHED" for r in stages.values())
    for r in [parent, *stages.values()]:
        assert not any(SECRET in v for v in r.data.params.values()) and "synth.llm.api_key_env" in parent.data.params

    mslm = stages["mslm"]  # every step from rank 0, the export's location, its card
    assert [m.step for m in client.get_metric_history(mslm.info.run_id, "loss")] == list(range(1, 9))
    assert "tokens_per_s" in mslm.data.metrics and mslm.data.tags["tkre.export"] == f"{run_dir}/mslm/export"
    assert {a.path for a in client.list_artifacts(mslm.info.run_id, "model_card")} == {"model_card/README.md",
                                                                                        "model_card/tkre.json"}
    assert [m.step for m in client.get_metric_history(stages["scl"].info.run_id, "scl")] == [1, 2, 3, 4]
    assert stages["eval"].data.metrics["val/acc_5w1s/marker"] == summary["eval/val/acc_5w1s/marker"]
    assert stages["synth"].data.metrics["synthetic"] == 8 and stages["synth"].data.metrics["explanations"] == 8
    assert stages["finetune"].data.metrics["synthetic_added"] == 8
    assert stages["finetune"].data.tags["tkre.export"] == f"{run_dir}/finetune/classifier"
    card = client.download_artifacts(stages["finetune"].info.run_id, "classifier/README.md", str(tmp_path))
    assert "8 of them synthetic" in Path(card).read_text()
    # the artifacts live on S3, sent through the server
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mlflow")["Contents"]]
    assert any(k.endswith(f"{parent.info.run_id}/artifacts/report.md") for k in keys)
    assert any(k.endswith(f"{stages['synth'].info.run_id}/artifacts/synthesis.png") for k in keys)

    # tkre report reads a run from the tracker as it reads a run dir
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    from jobs.report import main as report

    report(["--out", str(tmp_path / "tracked"), "--finetune", f"TKRE=runs:/{stages['finetune'].info.run_id}"])
    assert f"| TKRE | {100 * summary['finetune/test/f1_own_task']:.2f} ± 0.00 |" in (tmp_path / "tracked.md").read_text()


def snapshot_steps(s3, key):
    try:
        body = s3.get_object(Bucket="tkre", Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return []
    return [r["metrics"]["step"] for r in json.loads(body)["checkpoint_results"]]


@pytest.mark.xdist_group("pipeline_reference")
@pytest.mark.timeout(1500)
def test_a_pipeline_in_s3_killed_mid_training_resumes_and_matches_the_uninterrupted_counts(reference, moto_s3, tmp_path):
    env, s3 = moto_s3
    s3.create_bucket(Bucket="tkre")
    with FaultServer(fake_llm) as server:
        refused = subprocess.run(command("s3://no-such-bucket/p", server.base_url), cwd=REPO, env=env,
                                 capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2 and "s3://no-such-bucket/p: no such bucket" in refused.stderr

        log = open(tmp_path / "first.log", "w")
        first = subprocess.Popen(command("s3://tkre/pipe", server.base_url), cwd=REPO, env=env, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 600
        while not snapshot_steps(s3, "pipe/mslm/train/checkpoint_manager_snapshot.json"):  # a checkpoint Ray recorded
            assert first.poll() is None and time.time() < deadline, (tmp_path / "first.log").read_text()[-4000:]
            time.sleep(0.2)
        os.killpg(first.pid, signal.SIGKILL)  # the driver and the local Ray it started, in the middle of mslm
        first.wait()
        steps = snapshot_steps(s3, "pipe/mslm/train/checkpoint_manager_snapshot.json")
        assert steps and max(steps) < 8
        stage = json.loads(s3.get_object(Bucket="tkre", Key="pipe/mslm/stage.json")["Body"].read())
        assert stage["complete"] is False

        done, summary = run(command("s3://tkre/pipe", server.base_url), env=env)
    assert "[pipeline] 1/5 synth: done before with the same config" in done.stderr
    assert "[pipeline] 2/5 mslm: resuming the unfinished run in s3://tkre/pipe/mslm" in done.stderr
    assert f"[train] resumed at step {max(steps)}" in done.stderr
    assert summary["stages"] == {"synth": "skipped", "mslm": "ran", "scl": "ran", "finetune": "ran", "eval": "ran"}

    def read(name):
        return s3.get_object(Bucket="tkre", Key=f"pipe/{name}")["Body"].read().decode()

    ref_dir = reference[0]
    assert counts(read) == counts(lambda name: (ref_dir / name).read_text())
    for name in ("eval/episodes/fewrel_val_5w1s.jsonl", "eval/episodes/fewrel_val_5w5s.jsonl", "synth/synthetic.json"):
        assert read(name) == (ref_dir / name).read_text()  # the same episodes and the same synthetic data
    keys = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="tkre") for o in page["Contents"]}
    assert {"pipe/report.md", "pipe/report.png", "pipe/pipeline.json", "pipe/config.yaml",
            "pipe/scl/export/model.safetensors", "pipe/eval/episodic.png", "pipe/finetune/classifier/head.safetensors"} <= keys
    assert s3.get_object(Bucket="tkre", Key="pipe/report.png")["Body"].read()[:8] == PNG
    assert "| mslm | ran | s3://tkre/pipe/mslm |" in read("report.md")
    assert not [k for k in keys if k.endswith((".yaml", ".json", ".md")) and env["AWS_SECRET_ACCESS_KEY"] in read(k[5:])]


def test_an_unreachable_llm_endpoint_stops_the_command_before_any_work(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = subprocess.run([str(Path(sys.executable).parent / "tkre"), "pipeline", "--config", SMOKE,
                           "--set", f"run_dir={tmp_path / 'run'}", "--set", f"synth.llm.base_url=http://127.0.0.1:{port}/v1"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"tkre pipeline: error: synth.llm.base_url http://127.0.0.1:{port}/v1: cannot connect" in done.stderr
    assert not (tmp_path / "run").exists() and "Traceback" not in done.stderr


@pytest.mark.timeout(600)
def test_a_synthesis_whose_every_request_failed_stops_the_pipeline_unfinished(tmp_path):
    run_dir = tmp_path / "run"
    with FaultServer(fake_llm, plan=lambda request_id, attempt: "500") as server:
        done = subprocess.run(command(run_dir, server.base_url, "synth.llm.max_attempts=1"), cwd=REPO,
                              capture_output=True, text=True, timeout=500)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "error: synth: all 10 LLM requests failed after their retries ({'http_500': 10})" in done.stderr
    assert f"see {run_dir}/synth/manifest.json; rerun the same command to retry them" in done.stderr
    assert json.loads((run_dir / "synth" / "stage.json").read_text())["complete"] is False  # a rerun resumes it
    assert not (run_dir / "mslm").exists() and "Traceback" not in done.stderr


def test_an_s3_stage_folder_is_cleared_without_touching_its_neighbours(moto_s3, monkeypatch):
    from tkre.errors import StorageError
    from tkre.storage import delete_folder, open_storage

    env, s3 = moto_s3
    for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(key, env[key])
    s3.create_bucket(Bucket="tkre")
    open_storage("s3://tkre/run").check()
    with pytest.raises(StorageError, match=r"^s3://missing/run: no such bucket \(bucket missing\)$"):
        open_storage("s3://missing/run").check()
    names = [f"run/mslm/train/checkpoint_{i}/shard.pt" for i in range(1005)] + ["run/mslm2/config.yaml", "run/pipeline.json"]
    for name in names:
        s3.put_object(Bucket="tkre", Key=name, Body=b"x")
    delete_folder("s3://tkre/run/mslm")  # more than one delete request's worth of keys
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="tkre") for o in page.get("Contents", [])]
    assert sorted(keys) == ["run/mslm2/config.yaml", "run/pipeline.json"]


@pytest.mark.timeout(600)
def test_a_few_shot_pipeline_of_meta_training_then_eval_hands_the_meta_export_to_eval(tmp_path, tiny_model, capsys):
    from jobs import pipeline

    run_dir = tmp_path / "run"
    sets = [f"run_dir={run_dir}", f"model={tiny_model}", "task=null", "synth=null", "mslm=null", "scl=null",
            "finetune=null", "meta={splits: [dev], max_length: 64, loop: {max_steps: 4, batch_size: 1, checkpoint_every: 2}, "
            "engine: {kind: torch}}"]
    summary = pipeline.main(["--config", SMOKE, *[x for s in sets for x in ("--set", s)]])
    assert summary["stages"] == {"meta": "ran", "eval": "ran"}
    assert "[pipeline] 1/2 meta: running into" in capsys.readouterr().err
    assert f"init_from: {tiny_model}" in (run_dir / "meta" / "config.yaml").read_text()
    assert f"model: {run_dir}/meta/export" in (run_dir / "eval" / "config.yaml").read_text()
    assert json.loads((run_dir / "meta" / "export" / "tkre.json").read_text())["stages"][-1]["stage"] == "meta-train"
    assert "meta-trained / marker |" in (run_dir / "report.md").read_text()
    assert 0 <= summary["eval/val/acc_5w1s/marker"] <= 1.0
