"""The real commands, as a user runs them, on slices of the shared data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EPISODIC_KEYS = {"accuracy", "ci95", "episodes", "n_way", "k_shot", "unique_instances", "encode_seconds", "total_seconds"}


def run(*args, check=True):
    result = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, env=os.environ, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


FRONT_DOORS = {"tkre": ("-m", "jobs.cli"), "python -m jobs": ()}
JOBS = {"data": "data", "synth": "synth", "mslm": "pretrain mslm", "scl": "pretrain scl", "meta-train": "meta_train", "eval": "eval",
        "finetune": "finetune", "predict": "predict", "sweep": "sweep", "pipeline": "pipeline", "report": "report", "gain": "gain"}


def command(door: str, job: str, *args: str) -> list[str]:
    """The same job through either front door: ``tkre <job> ...`` or ``python -m jobs.<module> ...``."""
    module, *stage = JOBS[job].split()  # mslm and scl: python -m jobs.pretrain STAGE
    return [*FRONT_DOORS[door], job, *args] if door == "tkre" else ["-m", f"jobs.{module}", *stage, *args]


def test_every_job_takes_the_same_arguments_through_both_front_doors(capsys):
    import importlib

    from jobs.cli import COMMANDS, main

    assert {name: module for name, (module, _) in COMMANDS.items()} == {job: m.split()[0] for job, m in JOBS.items()}
    assert {p.stem for p in (REPO / "jobs").glob("*.py")} - {"__init__", "cli"} == {m.split()[0] for m in JOBS.values()}

    def help_text(entry, argv):  # in this process: each job's parser, without a start-up per job and door
        with pytest.raises(SystemExit) as done:
            entry(argv)
        assert done.value.code == 0
        return " ".join(capsys.readouterr().out.split())

    for job, module in JOBS.items():
        tkre = help_text(main, [job, "--help"])
        plain = help_text(importlib.import_module(f"jobs.{module.split()[0]}").main, [*module.split()[1:], "--help"])
        assert tkre.replace(f"tkre {job}", "PROG") == plain.replace(f"python -m jobs.{module}", "PROG"), job
    # and as real commands: both front doors of one job, the command list, an unknown command
    tkre, module = (" ".join(run(*command(door, "eval", "--help")).stdout.split()) for door in FRONT_DOORS)
    assert tkre.replace("tkre eval", "PROG") == module.replace("python -m jobs.eval", "PROG")
    assert "commands:" in run("-m", "jobs.cli", "--help").stdout
    unknown = run("-m", "jobs.cli", "pretrain", check=False)
    assert unknown.returncode == 2 and "unknown command 'pretrain'" in unknown.stderr


EVAL_SLICE = ["--set", "episodic.settings=[5-1]", "--set", "episodic.episodes=40", "--set", "episodic.n_query=2",
              "--set", "episodic.poolings=[marker]", "--set", "episodic.limit_per_relation=12", "--set", "finetune=[]"]


def test_tkre_eval_on_a_fewrel_slice_replays_its_frozen_episodes(tmp_path):
    first = run(*command("tkre", "eval", "--config", "jobs/configs/eval/smoke.yaml", "--set", f"run_dir={tmp_path / 'a'}",
                         *EVAL_SLICE))
    result = last_json(first.stdout)
    assert 0.2 < result["val/acc_5w1s/marker"] <= 1.0  # chance is 0.2
    assert "encode" in first.stderr  # the progress bar
    frozen = tmp_path / "a" / "episodes"
    assert len((frozen / "fewrel_val_5w1s.jsonl").read_text().splitlines()) == 40
    replay = run(*command("python -m jobs", "eval", "--config", "jobs/configs/eval/smoke.yaml",
                          "--set", f"run_dir={tmp_path / 'b'}", *EVAL_SLICE, "--set", f"episodic.episodes_from={frozen}",
                          "--set", "episodic.seed=7"))
    assert last_json(replay.stdout)["val/acc_5w1s/marker"] == result["val/acc_5w1s/marker"]


def test_tkre_eval_fine_tunes_with_per_seed_and_mean_and_keeps_the_best_dev_classifier(tmp_path):
    run(*command("tkre", "eval", "--config", "jobs/configs/eval/smoke.yaml", "--set", f"run_dir={tmp_path}",
                 "--set", "episodic=null", "--set", "finetune=[{dataset: semeval, k_shot: 2, seeds: [13, 21], "
                 f"limit_per_relation: 3, train: {{epochs: 1}}, save: {tmp_path / 'clf'}}}]"))
    result = json.loads((tmp_path / "results.json").read_text())["finetune"][0]
    assert [r["seed"] for r in result["per_seed"]] == [13, 21]
    best = max(result["per_seed"], key=lambda r: r["dev_f1"])  # the pipeline's eval stage takes the same field
    kept = json.loads((tmp_path / "clf" / "classifier.json").read_text())["measured"]
    assert (kept["seed"], kept["test_f1"]) == (best["seed"], best["test_f1"])
    assert result["test_size"] == 19 * 3 - 2  # Entity-Destination(e2,e1) has one test instance
    assert 0 <= result["test_f1_mean"] <= 1 and result["test_f1_std"] >= 0


def bad_fewrel(tmp_path):
    bad = tmp_path / "data" / "fewrel"
    bad.mkdir(parents=True)
    good = json.loads((Path(os.environ["TKRE_DATA_DIR"]) / "fewrel/val_wiki.json").read_text())
    good["P177"][3]["h"][2] = [[999]]
    (bad / "val_wiki.json").write_text(json.dumps(good))
    return bad / "val_wiki.json"


S3_NO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_PROFILE": None, "AWS_ENDPOINT_URL": None, "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                     "AWS_CONFIG_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}


def test_each_class_of_error_is_one_line_with_exit_status_2_and_nothing_written(tmp_path, free_port):
    out = tmp_path / "out"
    broken = bad_fewrel(tmp_path)
    bad_schema = tmp_path / "schema.yaml"
    bad_schema.write_text("P177: {name: crosses, description: 7}\n")
    eval_job = ["--config", "jobs/configs/eval/smoke.yaml", "--set", f"run_dir={out}"]
    port = free_port()
    cases = [  # (job and arguments, extra environment, what the line says)
        (("eval", *eval_job, "--set", "episodic.episodes=0"), {}, "--set episodic.episodes=0: episodic.episodes: must be > 0"),
        (("eval", "--config", "jobs/configs/eval/nothing.yaml"), {}, "jobs/configs/eval/nothing.yaml: no such config file"),
        (("eval", *eval_job, "--set", "model=/no/such/model"), {}, "model '/no/such/model': no such model folder"),
        (("eval", *eval_job, "--set", "model=org/not-cached"), {"HF_HUB_OFFLINE": "1"},
         "model 'org/not-cached': no such folder, and not in the hub cache while HF_HUB_OFFLINE=1"),
        (("eval", *eval_job, "--set", f"data_dir={broken.parents[1]}", "--set", "finetune=[]"), {},
         f"{broken}: record P177[3]: field 'h'"),
        (("eval", *eval_job, "--data", "/no/such/mine.json"), {}, "data file /no/such/mine.json not found"),
        (("predict", "--model", "minilm", "--input", "/no/such/q.jsonl", "--output", str(out / "p.jsonl")), {},
         "--support: an encoder needs labelled support records"),
        (("predict", "--model", "minilm", "--support", "/no/such/s.jsonl", "--input", "q.jsonl", "--output",
          str(out / "p.jsonl")), {}, "/no/such/s.jsonl not found"),
        (("eval", *eval_job, "--set", "episodic.descriptions=none"), {},
         "episodic.descriptions: 0-shot settings 5-0 score by descriptions: set add or only"),
        (("eval", *eval_job, "--set", f"episodic.schema={bad_schema}"), {},
         f"{bad_schema}: record P177: field 'description': expected a string, got int"),
        (("eval", *eval_job[:2], "--set", "run_dir=s3://tkre-no-bucket/eval"), S3_NO_CREDENTIALS,
         "s3://tkre-no-bucket/eval: no S3 credentials"),
        (("synth", "--config", "jobs/configs/synth/smoke.yaml", "--set", f"output={out}",
          "--set", f"llm.base_url=http://user:pw@127.0.0.1:{port}/v1"), {},
         f"llm.base_url http://127.0.0.1:{port}/v1: cannot connect"),
        (("synth", "--config", "jobs/configs/synth/smoke.yaml", "--set", f"output={out}", "--set", "llm.temperature=0.5"),
         {}, "--set llm.temperature=0.5: llm.temperature: unknown key; llm has"),
        (("mslm", "--config", "jobs/configs/mslm/smoke.yaml", "--set", f"run_dir={out}", "--set", "loop.max_steps=-3"), {},
         "--set loop.max_steps=-3: loop.max_steps: must be > 0, got -3"),
    ]
    for i, ((job, *args), env, message) in enumerate(cases):
        door = list(FRONT_DOORS)[i % 2]  # each case through one front door, both doors in turn
        result = subprocess.run([sys.executable, *command(door, job, *args)], cwd=REPO, capture_output=True, text=True,
                                env={k: v for k, v in {**os.environ, **env}.items() if v is not None}, timeout=300)
        prog = f"tkre {job}" if door == "tkre" else f"python -m jobs.{JOBS[job]}"
        assert result.returncode == 2, (job, args, result.stderr[-2000:])
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith(f"{prog}: error: ") and message in lines[-1], (job, args, result.stderr[-2000:])
        assert "Traceback" not in result.stderr and "pw" not in result.stderr
        assert not out.exists(), (job, args)


@pytest.mark.timeout(600)
def test_eval_job_smoke_writes_its_artifacts(tmp_path):
    run_dir = tmp_path / "run"
    out = run("-m", "jobs.eval", "--config", "jobs/configs/eval/smoke.yaml", "--set", f"run_dir={run_dir}")
    summary = last_json(out.stdout)
    assert {"val/acc_5w1s/marker", "val/acc_5w5s/mean", "val/acc_5w0s/mean", "test/f1_semeval_k2"} <= set(summary)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["schema"] == {"source": "fewrel", "relations": 16, "fallback": 0, "fallback_relations": []}
    assert len(results["episodic"]["mean"]["5-0"]["per_episode"]) == 50
    for name in ("config.yaml", "results.json", "results.md", "episodic.png", "episodes/fewrel_val_5w1s.jsonl"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "episodic.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| marker |" in (run_dir / "results.md").read_text()
    assert f"run_dir: {run_dir}" in (run_dir / "config.yaml").read_text()


def test_tkre_synth_runs_the_job_and_prints_its_summary(tmp_path):
    from synth_helpers import fake_llm, overrides

    from tkre.testing import FaultServer

    with FaultServer(fake_llm) as server:
        sets = overrides(tmp_path, server.base_url, relations=1, per_relation=2)
        result = run(*command("tkre", "synth"), "--config", "jobs/configs/synth/smoke.yaml",
                     *[x for s in sets for x in ("--set", s)])
    summary = last_json(result.stdout)
    assert (summary["explanations"], summary["synthetic"], summary["stopped_by"]) == (2, 2, None)
    assert "| edkg | 2 | 2 | 0 | 0 | 2 |" in result.stdout


def test_tkre_sweep_refuses_a_bad_space_before_starting_ray(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("base: jobs/configs/scl/sweep_smoke.yaml\nmetric: val/acc\n"
                     "param_space:\n  scl.temperture: {loguniform: [0.02, 0.5]}\n")
    for door in FRONT_DOORS:
        result = run(*command(door, "sweep", "--space", str(space), "--storage", str(tmp_path / "sweeps")), check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"{space}: param_space keys ['scl.temperture'] are not keys of PretrainConfig" in result.stderr
        assert not (tmp_path / "sweeps").exists()
    missing = run(*command("tkre", "sweep", "--space", str(tmp_path / "missing.yaml")), check=False)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines()[-1].endswith(f"--space {tmp_path / 'missing.yaml'}: no such sweep space file")


@pytest.mark.parametrize("door", FRONT_DOORS)
def test_storage_that_cannot_be_used_is_one_line_before_any_work(tmp_path, door, moto_s3, free_port):
    env, client = moto_s3
    client.create_bucket(Bucket="tkre-there")
    cases = [("s3://tkre-missing/eval", env, "s3://tkre-missing/eval: no such bucket (bucket tkre-missing)"),
             ("s3://tkre-there/eval", {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"},
              "s3://tkre-there/eval: cannot reach the S3 endpoint")]
    for run_dir, environ, message in cases:
        result = subprocess.run([sys.executable, *command(door, "eval", "--config", "jobs/configs/eval/smoke.yaml",
                                                         "--set", f"run_dir={run_dir}")],
                                cwd=REPO, capture_output=True, text=True, env=environ, timeout=300)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert message in result.stderr.strip().splitlines()[-1], result.stderr[-2000:]
        assert "testing-secret" not in result.stderr
    assert client.list_objects_v2(Bucket="tkre-there").get("KeyCount", 0) == 0  # nothing written


def test_folders_move_through_managed_transfers_multipart_included(tmp_path, moto_s3, monkeypatch):
    from tkre.storage import download_folder, local_copy, staged, upload_folder

    env, client = moto_s3
    for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                "AWS_EC2_METADATA_DISABLED"):
        monkeypatch.setenv(key, env[key])
    client.create_bucket(Bucket="tkre")
    source = tmp_path / "model"
    (source / "sub").mkdir(parents=True)
    big = bytes(range(256)) * (9 * 4096 + 7)  # 9.4 MB: above boto3's 8 MB multipart threshold
    (source / "model.safetensors").write_bytes(big)
    (source / "sub" / "config.json").write_text("{}")
    upload_folder(source, "s3://tkre/runs/export")
    head = client.head_object(Bucket="tkre", Key="runs/export/model.safetensors")
    assert head["ContentLength"] == len(big) and "-" in head["ETag"]  # a multipart upload's ETag: md5-parts
    with local_copy("s3://tkre/runs/export") as folder:
        assert (Path(folder) / "model.safetensors").read_bytes() == big
    with staged("s3://tkre/runs/eval") as out:
        (out / "results.json").write_text("{}")
    assert client.get_object(Bucket="tkre", Key="runs/eval/results.json")["Body"].read() == b"{}"
    assert (download_folder("s3://tkre/runs/export", tmp_path / "back") / "sub" / "config.json").read_text() == "{}"
