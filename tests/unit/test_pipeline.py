"""The pipeline's plan, config hashes, checks before any work, and skip / resume / rerun of stages (no Ray)."""

import json
import socket

import pytest

from jobs.pipeline import PipelineConfig, load, plan
from tkre.config import config_data, from_dict
from tkre.errors import UserError
from tkre.stages import Stage, run_stage

SMOKE = "jobs/configs/pipeline/smoke.yaml"


def stages_of(*overrides, run_dir="/tmp/never-written"):
    cfg = from_dict(PipelineConfig, config_data(SMOKE, [f"run_dir={run_dir}", "data_dir=/data", *overrides]))
    return cfg, {s.name: s for s in plan(cfg)}


def test_each_stage_is_handed_the_output_of_the_one_before():
    cfg, s = stages_of("baseline=minilm", run_dir="s3://bucket/tkre/smoke")
    assert s["synth"].config.output == "s3://bucket/tkre/smoke/synth"
    assert s["mslm"].config.corpus == s["scl"].config.corpus == "s3://bucket/tkre/smoke/synth"
    assert s["mslm"].config.init_from == "minilm" and s["mslm"].config.run_dir == "s3://bucket/tkre/smoke/mslm"
    assert s["scl"].config.init_from == "s3://bucket/tkre/smoke/mslm/export"
    assert s["eval"].config.model == "s3://bucket/tkre/smoke/scl/export"
    assert (s["baseline"].config.model, s["baseline"].config.run_dir) == ("minilm", "s3://bucket/tkre/smoke/baseline")
    assert s["baseline"].config.episodic == s["eval"].config.episodic  # the same episodes for both encoders
    assert all(st.config.data_dir == "/data" for st in s.values())


def test_a_changed_setting_changes_its_stage_and_every_later_one_only():
    _, base = stages_of("baseline=minilm")
    hashes = {name: st.hash for name, st in base.items()}
    _, moved = stages_of("baseline=minilm", run_dir="/elsewhere")
    assert {name: st.hash for name, st in moved.items()} == hashes  # locations are not settings

    def changed(*overrides):
        _, s = stages_of("baseline=minilm", *overrides)
        return {name for name, st in s.items() if st.hash != hashes[name]}

    assert changed("eval.episodic.episodes=30") == {"eval", "baseline"}
    assert changed("scl.scl.temperature=0.05") == {"scl", "eval"}
    assert changed("mslm.loop.max_steps=6") == {"mslm", "scl", "eval"}
    assert changed("synth.scdg.temperature=0.7") == {"synth", "mslm", "scl", "eval"}


SET = "--set {override}: "  # a value rule broken by an override is credited to it


@pytest.mark.parametrize("override, message", [
    ("mslm.corpus=runs/other", SET + "mslm.corpus: is handed over by the pipeline"),
    ("eval.model=minilm", SET + "eval.model: is handed over by the pipeline"),
    ("scl.scl.temperature=0", SET + "scl.scl.temperature: must be > 0, got 0"),
    ("mslm.loop.batch_size=-1", SET + "mslm.loop.batch_size: must be > 0"),
    ("scl.scl=null", SET + "scl.scl: the scl stage needs its settings"),
    ("eval.episodic.settings=[20-1]", SET + "eval.episodic.settings: 20-1 on fewrel val: 20-way episodes need 20 relations"),
    ("eval.episodic.settings=[5x1]", SET + "eval.episodic.settings: expected N-K with N >= 2 and K >= 0"),
    ("mslm.init_from=/no/such/model", "model '/no/such/model': no such model folder"),
    ("baseline=roberta-large", "model 'roberta-large': no such folder, and not in the hub cache while HF_HUB_OFFLINE=1"),
    ("eval.finetune=[{dataset: wiki80, k_shot: 3, seeds: [13]}]", "Wiki80 ships K in 8/16/32"),
    ("synth.llm.model=gpt-4o-mini", SET + "synth.llm.model: llm.base_url is null: the embedded server runs model smollm2 only"),
    ("mslm.loop.max_step=5", SET + "mslm.loop.max_step: unknown key"),
])
def test_bad_settings_are_refused_before_any_work_naming_the_argument_and_field(tmp_path, monkeypatch, override, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as error:
        load(SMOKE, [f"run_dir={tmp_path / 'run'}", override])
    assert message.format(override=override) in str(error.value)
    assert not (tmp_path / "run").exists()


def unused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_endpoint_is_refused_unless_synthesis_is_already_done(tmp_path):
    url = f"synth.llm.base_url=http://127.0.0.1:{unused_port()}/v1"
    with pytest.raises(UserError, match=r"^synth.llm.base_url http://127.0.0.1:\d+/v1: cannot connect"):
        load(SMOKE, [f"run_dir={tmp_path}", url])
    _, stages = stages_of(url, run_dir=str(tmp_path))
    (tmp_path / "synth").mkdir()
    (tmp_path / "synth" / "stage.json").write_text(json.dumps({"hash": stages["synth"].hash, "complete": True}))
    load(SMOKE, [f"run_dir={tmp_path}", url])  # the endpoint is not needed any more


def test_an_endpoint_that_refuses_the_api_key_is_refused_before_any_work(tmp_path, monkeypatch):
    from tkre.testing import FaultServer

    monkeypatch.setenv("TKRE_TEST_KEY", "sk-wrong")
    with FaultServer(lambda messages: "{}", api_key="sk-right") as server:
        with pytest.raises(UserError) as error:
            load(SMOKE, [f"run_dir={tmp_path / 'run'}", f"synth.llm.base_url={server.base_url}",
                         "synth.llm.api_key_env=TKRE_TEST_KEY"])
    assert str(error.value) == f"synth.llm.base_url {server.base_url}: HTTP 401, the key in $TKRE_TEST_KEY was refused"
    assert not (tmp_path / "run").exists()


def test_stages_are_skipped_resumed_or_run_again_by_their_recorded_hash(tmp_path, capsys):
    calls = []

    def stage(name, digest):
        def work(config):
            (tmp_path / name / "train").mkdir(parents=True, exist_ok=True)
            calls.append(sorted(p.name for p in (tmp_path / name / "train").iterdir()))
            (tmp_path / name / "train" / f"checkpoint-{digest}").touch()
            return {"step": 4, "loss": 1.0}
        return Stage(name, config=None, output=str(tmp_path / name), hash=digest, run=work, clear=name == "mslm")

    assert run_stage(stage("mslm", "a"), 2, 4)["status"] == "ran" and calls == [[]]
    assert run_stage(stage("mslm", "a"), 2, 4)["status"] == "skipped" and len(calls) == 1

    record = json.loads((tmp_path / "mslm" / "stage.json").read_text())
    (tmp_path / "mslm" / "stage.json").write_text(json.dumps({**record, "complete": False}))  # killed mid-stage
    assert run_stage(stage("mslm", "a"), 2, 4)["status"] == "ran"
    assert calls[-1] == ["checkpoint-a"]  # resumed in place: its checkpoints kept

    run_stage(stage("mslm", "b"), 2, 4)  # other settings: a training stage starts from an empty folder
    assert calls[-1] == []
    run_stage(stage("synth", "a"), 1, 4)
    run_stage(stage("synth", "b"), 1, 4)  # synthesis reruns in place: records of identical requests are reused
    assert calls[-1] == ["checkpoint-a"]
    err = capsys.readouterr().err
    assert "[pipeline] 2/4 mslm: done before with the same config (a), skipped" in err
    assert "resuming the unfinished run" in err and "holds a run of other settings (a); running again" in err
    assert json.loads((tmp_path / "mslm" / "stage.json").read_text())["complete"] is True
