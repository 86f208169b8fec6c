"""The pipeline's plan, config hashes, checks before any work, and skip / resume / rerun of stages (no Ray)."""

import json
import socket
from pathlib import Path

import pytest

from jobs.pipeline import PipelineConfig, load, plan
from tkre.config import config_data, from_dict
from tkre.errors import UserError
from tkre.stages import Stage, run_stage

SMOKE = "jobs/configs/pipeline/smoke.yaml"


def stages_of(*overrides, run_dir="/tmp/never-written"):
    task = f"task.dataset={Path('examples/own_task').resolve()}"  # as ``load`` makes it
    cfg = from_dict(PipelineConfig, config_data(SMOKE, [f"run_dir={run_dir}", "data_dir=/data", task, *overrides]))
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
    _, tracked = stages_of("baseline=minilm", "tracking.uri=http://tracker:5000", "tracking.experiment=other")
    assert {name: st.hash for name, st in tracked.items()} == hashes  # nor where the runs are tracked

    def changed(*overrides):
        _, s = stages_of("baseline=minilm", *overrides)
        return {name for name, st in s.items() if st.hash != hashes[name]}

    assert changed("eval.episodic.episodes=30") == {"eval", "baseline"}
    assert changed("finetune.train.epochs=2") == {"finetune", "baseline_finetune"}  # the same protocol for both
    assert changed("model=other") == {"mslm", "scl", "finetune", "eval"}  # where training starts
    assert changed("scl.scl.temperature=0.05") == {"scl", "finetune", "eval"}
    assert changed("mslm.loop.max_steps=6") == {"mslm", "scl", "finetune", "eval"}
    assert changed("synth.scdg.temperature=0.7") == {"synth", "mslm", "scl", "finetune", "eval"}


TASK = "jobs/configs/pipeline/semeval_k8.yaml"


def task_stages(*overrides, config=TASK, run_dir="/tmp/never-written"):
    cfg = from_dict(PipelineConfig, config_data(config, [f"run_dir={run_dir}", "data_dir=/data", *overrides]))
    return {s.name: s for s in plan(cfg)}


def test_a_task_pipeline_explains_its_own_task_and_fine_tunes_on_it_plus_the_synthetic_data():
    s = task_stages()
    assert list(s) == ["synth", "mslm", "scl", "finetune", "baseline_finetune"]
    support = s["synth"].config.support
    assert (support.dataset, support.k_shot, support.seed, support.relations) == ("semeval", 8, 13, "all")
    tuned, plain = s["finetune"].config, s["baseline_finetune"].config
    assert (tuned.dataset, tuned.k_shot, tuned.seeds) == (plain.dataset, plain.k_shot, plain.seeds) == ("semeval", 8, [13])
    assert (tuned.model, tuned.synthetic) == ("/tmp/never-written/scl/export", "/tmp/never-written/synth")
    assert tuned.save == "/tmp/never-written/finetune/classifier"
    assert (plain.model, plain.synthetic, plain.save) == ("minilm", None, None)  # plain fine-tuning of the base model
    assert plain.train == tuned.train and tuned.synthetic_per_relation == 8
    moved = task_stages("task.seed=21")
    assert all(moved[n].hash != s[n].hash for n in s)  # another split: every stage again
    assert moved["synth"].config.support.seed == moved["finetune"].config.seeds[0] == 21


@pytest.mark.parametrize("left_out, stages", [
    (["synth"], ["mslm", "scl", "finetune", "baseline_finetune"]),
    (["synth", "mslm", "scl"], ["finetune", "baseline_finetune"]),
    (["mslm", "scl", "finetune"], ["synth"]),
])
def test_each_stage_is_run_only_when_its_section_is_named(left_out, stages):
    s = task_stages(*[f"{name}=null" for name in left_out])
    assert list(s) == stages
    if "mslm" in s:  # without synth, pre-training reads the corpus its section names; fine-tuning adds nothing
        assert s["mslm"].config.corpus == "corpora/wiki80_k8_smollm2" and s["finetune"].config.synthetic is None
    if s.keys() == {"finetune", "baseline_finetune"}:
        assert s["finetune"].config.model == "minilm"  # no training stage: the base model itself


def test_meta_training_follows_tkre_and_hands_its_encoder_to_eval():
    s = task_stages("finetune=null", "meta={loop: {max_steps: 4}}", config=SMOKE)
    assert list(s) == ["synth", "mslm", "scl", "meta", "eval"]
    assert s["meta"].config.init_from == "/tmp/never-written/scl/export"
    assert s["eval"].config.model == "/tmp/never-written/meta/export"
    assert task_stages("meta={loop: {max_steps: 5}}", config=SMOKE)["eval"].hash != s["eval"].hash


SET = "--set {override}: "  # a value rule broken by an override is credited to it


@pytest.mark.parametrize("override, message", [
    ("mslm.corpus=runs/other", SET + "mslm.corpus: is handed over by the pipeline"),
    ("eval.model=minilm", SET + "eval.model: is handed over by the pipeline"),
    ("scl.scl.temperature=0", SET + "scl.scl.temperature: must be > 0, got 0"),
    ("mslm.loop.batch_size=-1", SET + "mslm.loop.batch_size: must be > 0"),
    ("scl.scl=null", SET + "scl.scl: the scl stage needs its settings"),
    ("eval.episodic.settings=[20-1]", SET + "eval.episodic.settings: 20-1 on fewrel val: 20-way episodes need 20 relations"),
    ("eval.episodic.settings=[5x1]", SET + "eval.episodic.settings: expected N-K with N >= 2 and K >= 0"),
    ("mslm.init_from=/no/such/model", SET + "mslm.init_from: is handed over by the pipeline"),
    ("scl.tracking.enabled=false", SET + "scl.tracking: is handed over by the pipeline (from the pipeline's own tracking"),
    ("tracking.uri=http://me:secret@tracker", SET + "tracking.uri: carries credentials"),
    ("model=/no/such/model", "model '/no/such/model': no such model folder"),
    ("baseline=roberta-large", "model 'roberta-large': no such folder, and not in the hub cache while HF_HUB_OFFLINE=1"),
    ("eval.finetune=[{dataset: wiki80, k_shot: 3, seeds: [13]}]", "Wiki80 ships K in 8/16/32"),
    ("synth.llm.model=gpt-4o-mini", SET + "synth.llm.model: llm.base_url is null: the embedded server runs model smollm2 only"),
    ("mslm.loop.max_step=5", SET + "mslm.loop.max_step: unknown key"),
    ("task=null", "smoke.yaml: finetune: fine-tunes on the task's K-shot split: set task"),
    ("mslm=null", SET + "mslm: missing: scl starts from the mslm export"),

])
def test_bad_settings_are_refused_before_any_work_naming_the_argument_and_field(tmp_path, monkeypatch, override, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as error:
        load(SMOKE, [f"run_dir={tmp_path / 'run'}", override])
    assert message.format(override=override) in str(error.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, message", [
    ("synth.support.seed=42", SET + "synth.support.seed: is handed over by the pipeline (from task)"),
    ("finetune.seeds=[13, 21]", SET + "finetune.seeds: is handed over by the pipeline (from task)"),
    ("finetune.synthetic=runs/other", SET + "finetune.synthetic: is handed over by the pipeline"),
    ("task.dataset=nope", SET + "task.dataset: must be one of wiki80, semeval (datasets with K-shot tasks), or a folder holding task.yaml"),
    ("meta={}", "meta: meta-training writes a local folder: set run_dir to a folder"),
    ("synth=null", "no stage to run: name at least one of synth, mslm, scl, meta, finetune, eval"),
])
def test_what_a_task_pipeline_hands_over_is_refused_in_its_sections(monkeypatch, override, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as error:
        load(TASK, ["run_dir=s3://never-written/run", "mslm=null", "scl=null", "finetune=null"
                    if override == "synth=null" else "baseline=minilm", override])
    assert message.format(override=override) in str(error.value)


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_a_bad_record_in_a_users_task_stops_the_pipeline_before_any_work(tmp_path, split):
    import shutil

    folder = tmp_path / "task"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "own_task", folder)
    lines = (folder / f"{split}.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace('"h": {"pos": [', '"h": {"start": [')
    (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError) as error:
        load("jobs/configs/pipeline/own_task.yaml", [f"run_dir={tmp_path / 'run'}", f"task.dataset={folder}"])
    assert str(error.value) == f"{folder / split}.jsonl: record line 3: field 'pos': missing"
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
