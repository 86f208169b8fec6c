"""The synthesize job on local Ray against real HTTP servers: a fault-injecting one and moto's S3; the embedded
SmolLM2 server under concurrent and long prompts. Synthesis through SmolLM2 end to end runs in the Ray Jobs test."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from synth_helpers import SMOKE, cycling_faults, fake_llm, overrides, read_outputs

from tkre.testing import FAULTS, FaultServer

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-test-do-not-leak-4242"


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, logging_level="warning")
    yield
    ray.shutdown()


@pytest.mark.xdist_group("synth_local_ray")  # one local Ray for both
@pytest.mark.timeout(300)
def test_every_request_ends_done_once_under_faults_and_a_rerun_sends_nothing(local_ray, tmp_path, monkeypatch, capfd):
    from jobs.synth import main

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "synth"
    with FaultServer(fake_llm, latency_s=0.05, plan=cycling_faults(), hang_s=2.5) as server:
        args = overrides(out, server.base_url, **{"llm.price_in_per_mtok": 1.0, "llm.price_out_per_mtok": 2.0})
        first = main(["--config", SMOKE, *[x for a in args for x in ("--set", a)]])
        outcomes = {e["outcome"] for e in server.log}
        successes = server.successes()
        sent = len(server.log)
        second = main(["--config", SMOKE, *[x for a in args for x in ("--set", a)]])
        assert len(server.log) == sent  # nothing repeated

    assert set(FAULTS) | {"ok"} <= outcomes
    assert sorted(successes.values()) == [1] * (9 + 3)  # 9 explanations + 3 SCDG requests, none answered twice
    manifest, explanations, synthetic = read_outputs(out)
    assert manifest["requests"]["edkg"] == {"planned": 9, "done": 9, "failed": 0, "not_sent": 0, "failed_by_reason": {}}
    assert manifest["requests"]["scdg"]["done"] == 3 and manifest["requests"]["attempts"] > 12
    assert len(explanations) == 9 and all(x["head"] in x["explanation"] for x in explanations)
    assert manifest["quality"]["explanations_naming_both"] == 1.0 and manifest["quality"]["relation_span_words"]["explanation"]["n"] == 9
    assert manifest["quality"]["synthetic_per_relation"]["min"] == 3
    assert (out / "synthesis.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| copy_of_demonstration | 3 |" in (out / "summary.md").read_text()
    assert len(synthetic) == 9 and manifest["synthetic"]["per_relation"] == {r: 3 for r in {x.relation for x in synthetic}}
    assert manifest["rejects"]["copy_of_demonstration"] == 3 and manifest["rejects"]["tail_not_in_sentence"] == 3
    assert manifest["synthetic"]["acceptance_rate"] == pytest.approx(9 / 15)  # 3 requests x (2 bad + 3 taken)
    for inst in synthetic:
        assert inst.tokens[inst.head[0]].startswith("Alpha") and inst.tokens[inst.tail[0]].startswith("Beta")
    expected_cost = (manifest["tokens_in"] * 1.0 + manifest["tokens_out"] * 2.0) / 1e6
    assert manifest["cost_usd"] == pytest.approx(expected_cost) and manifest["tokens_out"] > 0
    assert first["synthetic"] == second["synthetic"] == 9
    logs = capfd.readouterr()
    for path in out.rglob("*"):
        assert path.is_dir() or SECRET not in path.read_text(errors="replace")
    assert SECRET not in logs.out + logs.err


@pytest.mark.xdist_group("synth_local_ray")  # one local Ray for both
@pytest.mark.timeout(300)
def test_budget_caps_stop_cleanly_and_a_rerun_finishes_the_rest(local_ray, tmp_path):
    from jobs.synth import main

    out = tmp_path / "synth"
    with FaultServer(fake_llm) as server:
        def run(*extra):
            args = overrides(out, server.base_url, relations=2, per_relation=2, **dict(e.split("=", 1) for e in extra))
            return main(["--config", SMOKE, *[x for a in args for x in ("--set", a)]])

        assert run("budget.max_requests=3")["stopped_by"] == "max_requests"
        manifest, explanations, _ = read_outputs(out)
        assert manifest["requests"]["edkg"]["done"] == 3 and len(explanations) == 3
        assert manifest["requests"]["scdg"]["planned"] == 0
        assert run("budget.max_tokens=10")["stopped_by"] == "max_tokens"  # already spent: nothing more is sent
        assert len(server.log) == 3
        final = run()
        assert final["stopped_by"] is None and final["explanations"] == 4 and final["synthetic"] == 4
        assert sorted(server.successes().values()) == [1] * 6


def _job(args, env=None, **kwargs):
    command = [sys.executable, "-m", "jobs.synth", "--config", SMOKE, *[x for a in args for x in ("--set", a)]]
    return subprocess.Popen(command, cwd=REPO, env=env or os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.timeout(400)
def test_killed_mid_run_then_rerun_gives_the_same_corpus_and_repeats_no_finished_request(tmp_path):
    with FaultServer(fake_llm, latency_s=0.4) as server:
        common = {"workers.actors": 1, "workers.in_flight": 2, "llm.timeout_s": 10.0}
        reference = _job(overrides(tmp_path / "reference", server.base_url, relations=4, per_relation=6, **common))
        assert reference.wait(timeout=300) == 0, reference.stderr.read()[-3000:]
        crashed = tmp_path / "crashed"
        job = _job(overrides(crashed, server.base_url, relations=4, per_relation=6, **common), start_new_session=True)
        records = crashed / "records"
        deadline = time.time() + 200
        while time.time() < deadline and len(list(records.glob("*.json"))) < 8:
            time.sleep(0.2)
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        before = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in records.glob("*.json")}
        assert 8 <= len(before) < 24 + 4
        resumed = _job(overrides(crashed, server.base_url, relations=4, per_relation=6, **common))
        assert resumed.wait(timeout=300) == 0, resumed.stderr.read()[-3000:]
    after = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in records.glob("*.json")}
    assert all(after[name] == before[name] for name in before)  # finished work is neither redone nor lost
    want, got = read_outputs(tmp_path / "reference"), read_outputs(crashed)
    assert got[1] == want[1] and got[2] == want[2]
    assert got[0]["requests"] == want[0]["requests"] and got[0]["rejects"] == want[0]["rejects"]


@pytest.mark.timeout(300)
def test_output_to_s3_on_a_loopback_moto_server(tmp_path, moto_s3):
    env, s3 = moto_s3
    s3.create_bucket(Bucket="corpus")
    with FaultServer(fake_llm) as server:
        job = _job(overrides("s3://corpus/runs/synth", server.base_url, relations=2, per_relation=2), env=env)
        assert job.wait(timeout=240) == 0, job.stderr.read()[-3000:]
        assert json.loads(job.stdout.read().strip().splitlines()[-1])["synthetic"] == 4
        rerun = _job(overrides("s3://corpus/runs/synth", server.base_url, relations=2, per_relation=2), env=env)
        assert rerun.wait(timeout=240) == 0
        assert len(server.log) == 6  # resumed from the records in S3: nothing sent twice
    manifest = json.loads(s3.get_object(Bucket="corpus", Key="runs/synth/manifest.json")["Body"].read())
    assert manifest["synthetic"]["accepted"] == 4 and manifest["explanations"]["accepted"] == 4
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="corpus", Prefix="runs/synth/records/")["Contents"]]
    assert len(keys) == 6
    synthetic = json.loads(s3.get_object(Bucket="corpus", Key="runs/synth/synthetic.json")["Body"].read())
    assert len(synthetic) == 4 and all(r["relation"] for r in synthetic)


@pytest.mark.timeout(300)
def test_the_embedded_server_answers_concurrent_and_long_prompts_within_its_memory_bounds():
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from tkre.synth.client import ChatClient, LLMSettings
    from tkre.synth.server import EmbeddedServer, serve_dtype, smollm2_folder

    def peak_rss_gib(pid):  # the high-water mark of the server process
        line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM"))
        return int(line.split()[1]) / 2**20

    with EmbeddedServer(smollm2_folder(), max_batch_tokens=1024) as server:
        client = ChatClient(LLMSettings(timeout_s=240, max_attempts=1), server.base_url, server.model)
        prompts = ["Name a city in France. " * (300 if i == 0 else 10) for i in range(4)]  # the first > 1024 tokens

        def ask(prompt):
            return client.complete([{"role": "user", "content": prompt}], {"max_tokens": 16, "temperature": 0.7})

        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(ask, prompts))
        peak = peak_rss_gib(server.process.pid)
        served_as = server.process.args[server.process.args.index("--dtype") + 1]
    assert served_as == serve_dtype() == ("bfloat16" if torch.cpu._is_avx512_bf16_supported() else "float32")
    assert all(r.text and r.tokens_out > 0 for r in replies) and replies[0].tokens_in > 1024
    # unbounded, transformers sizes the KV cache from free RAM (14 GiB of this machine's 24)
    assert peak < 4, f"transformers serve peaked at {peak:.1f} GiB"
