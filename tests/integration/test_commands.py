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


def test_tkre_eval_episodic_on_a_fewrel_slice(tmp_path):
    frozen = tmp_path / "eps.jsonl"
    common = ["-m", "tkre.cli", "eval", "episodic", "--data", "fewrel", "--split", "val", "--n-way", "5", "--k-shot", "1",
              "--episodes", "40", "--seed", "0", "--model", "minilm", "--limit-per-relation", "12", "--n-query", "2"]
    first = run(*common, "--save-episodes", str(frozen))
    result = last_json(first.stdout)
    assert EPISODIC_KEYS <= set(result)
    assert (result["episodes"], result["n_way"], result["k_shot"]) == (40, 5, 1)
    assert result["unique_instances"] <= 16 * 12
    assert 0.2 < result["accuracy"] <= 1.0 and 0 < result["ci95"] < 0.2  # chance is 0.2
    assert "encode" in first.stderr  # the progress bar
    assert len(frozen.read_text().splitlines()) == 40
    replay = last_json(run(*common, "--episodes-file", str(frozen)).stdout)
    assert replay["accuracy"] == result["accuracy"]


def test_malformed_data_stops_with_file_record_and_field(tmp_path):
    bad = tmp_path / "fewrel"
    bad.mkdir()
    good = json.loads((Path(os.environ["TKRE_DATA_DIR"]) / "fewrel/val_wiki.json").read_text())
    good["P177"][3]["h"][2] = [[999]]
    (bad / "val_wiki.json").write_text(json.dumps(good))
    result = run("-m", "tkre.cli", "eval", "episodic", "--data-dir", str(tmp_path), "--episodes", "5", check=False)
    assert result.returncode == 2
    assert f"{bad / 'val_wiki.json'}: record P177[3]: field 'h'" in result.stderr and "out of range" in result.stderr


def test_tkre_finetune_prints_per_seed_and_mean():
    result = last_json(run("-m", "tkre.cli", "finetune", "--data", "semeval", "--k-shot", "2", "--seeds", "13,21",
                           "--epochs", "1", "--limit-per-relation", "3", "--model", "minilm").stdout)
    assert [r["seed"] for r in result["per_seed"]] == [13, 21]
    assert result["test_size"] == 19 * 3 - 2  # Entity-Destination(e2,e1) has one test instance
    assert 0 <= result["test_f1_mean"] <= 1 and result["test_f1_std"] >= 0


@pytest.mark.timeout(600)
def test_eval_job_smoke_writes_its_artifacts(tmp_path):
    run_dir = tmp_path / "run"
    out = run("-m", "jobs.eval", "--config", "jobs/configs/eval/smoke.yaml", "--set", f"run_dir={run_dir}")
    summary = last_json(out.stdout)
    assert {"val/acc_5w1s/marker", "val/acc_5w5s/mean", "test/f1_semeval_k2"} <= set(summary)
    for name in ("config.yaml", "results.json", "results.md", "episodic.png", "episodes/fewrel_val_5w1s.jsonl"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "episodic.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| marker |" in (run_dir / "results.md").read_text()
    assert f"run_dir: {run_dir}" in (run_dir / "config.yaml").read_text()


def test_tkre_synth_rejects_unknown_config_keys_before_any_work(tmp_path):
    result = run("-m", "tkre.cli", "synth", "--config", "jobs/configs/synthesize/smoke.yaml",
                 "--set", f"output={tmp_path / 'out'}", "--set", "llm.temperature=0.5", check=False)
    assert result.returncode == 2
    assert "smoke.yaml" in result.stderr and "config.llm: unknown keys ['temperature']" in result.stderr
    assert not (tmp_path / "out").exists()


def test_tkre_synth_fails_fast_when_the_endpoint_is_unreachable(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run("-m", "tkre.cli", "synth", "--config", "jobs/configs/synthesize/smoke.yaml", "--set", f"output={tmp_path}",
                 "--set", f"llm.base_url=http://user:pw@127.0.0.1:{port}/v1", check=False)
    assert result.returncode == 2
    assert f"llm.base_url http://127.0.0.1:{port}/v1: cannot connect" in result.stderr and "pw" not in result.stderr
    assert not (tmp_path / "records").exists()


def test_tkre_synth_runs_the_job_and_prints_its_summary(tmp_path):
    from synth_helpers import fake_llm, overrides
    from tkre.synth.fault_server import FaultServer

    with FaultServer(fake_llm) as server:
        sets = overrides(tmp_path, server.base_url, relations=1, per_relation=2)
        result = run("-m", "tkre.cli", "synth", "--config", "jobs/configs/synthesize/smoke.yaml",
                     *[x for s in sets for x in ("--set", s)])
    summary = last_json(result.stdout)
    assert (summary["explanations"], summary["synthetic"], summary["stopped_by"]) == (2, 2, None)
    assert "| edkg | 2 | 2 | 0 | 0 | 2 |" in result.stdout


def test_tkre_sweep_refuses_a_bad_space_before_starting_ray(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("base: jobs/configs/pretrain_scl/sweep_smoke.yaml\nmetric: val/acc\n"
                     "param_space:\n  scl.temperture: {loguniform: [0.02, 0.5]}\n")
    for module in (("-m", "tkre.cli", "sweep"), ("-m", "jobs.sweep")):
        result = run(*module, "--space", str(space), "--storage", str(tmp_path / "sweeps"), check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"{space}: param_space keys ['scl.temperture'] are not keys of PretrainJobConfig" in result.stderr
        assert not (tmp_path / "sweeps").exists()
