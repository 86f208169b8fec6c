"""Sweep search spaces: good files load, bad ones are refused with the file and key named."""

from pathlib import Path

import pytest

from tkre.config import ConfigError
from tkre.launch.space import Param, config_has_key, load_space
from tkre.train.config import PretrainConfig

GOOD = """
base: jobs/configs/scl/smoke.yaml
metric: val_acc_5w1s
mode: max
scheduler: {kind: asha, max_t: 4, grace_period: 1, reduction_factor: 2}
search: random
resources: {cpu: 2}
num_samples: 4
param_space:
  scl.temperature: {loguniform: [0.02, 0.5]}
  loop.max_steps: {choice: [2, 4]}
  loop.seed: {randint: [0, 100]}
  engine.lr: {uniform: [1.0e-5, 1.0e-4]}
"""


def write(tmp_path, text):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def test_a_good_space_loads_and_its_keys_exist_in_the_job_config(tmp_path):
    space = load_space(write(tmp_path, GOOD), PretrainConfig)
    assert space.metric == "val_acc_5w1s" and space.num_samples == 4 and space.scheduler.max_t == 4
    assert space.param_space["scl.temperature"] == Param("loguniform", [0.02, 0.5])
    assert space.param_space["loop.max_steps"] == Param("choice", [2, 4])


def test_optuna_searches_sampled_parameters_only(tmp_path):
    assert load_space(write(tmp_path, GOOD.replace("search: random", "search: optuna")), PretrainConfig).search == "optuna"
    bad = GOOD.replace("search: random", "search: optuna").replace("{choice: [2, 4]}", "{grid: [2, 4]}")
    with pytest.raises(ConfigError, match="search optuna: it samples every parameter; use choice instead of grid"):
        load_space(write(tmp_path, bad), PretrainConfig)


def test_dotted_keys_follow_nested_and_optional_dataclasses():
    assert config_has_key(PretrainConfig, "scl.temperature")  # scl is Optional[SCLSettings]
    assert config_has_key(PretrainConfig, "masking.relation")
    assert not config_has_key(PretrainConfig, "scl.temprature")
    assert not config_has_key(PretrainConfig, "max_length.x")


@pytest.mark.parametrize("change, message", [
    (("num_samples: 4", "num_sample: 4"), "unknown keys ['num_sample']"),
    (("metric: val_acc_5w1s\n", ""), "missing keys ['metric']"),
    (("mode: max", "mode: best"), "mode: expected max or min"),
    (("{loguniform: [0.02, 0.5]}", "{loguniform: [0.0, 0.5]}"), "scl.temperature.loguniform: the low end must be > 0"),
    (("{uniform: [1.0e-5, 1.0e-4]}", "{uniform: [1.0e-4, 1.0e-5]}"), "engine.lr.uniform: expected [low, high] with low < high"),
    (("{randint: [0, 100]}", "{randint: [0, 1.5]}"), "loop.seed.randint: expected integers"),
    (("{choice: [2, 4]}", "{choice: []}"), "loop.max_steps.choice: expected a non-empty list"),
    (("{choice: [2, 4]}", "{normal: [2, 4]}"), "param_space.loop.max_steps: expected one of choice, grid"),
    (("grace_period: 1", "grace_period: 8"), "expected 0 < grace_period <= max_t"),
    (("kind: asha", "kind: hyperband"), "scheduler.kind: expected one of asha, none"),
    (("search: random", "search: grid"), "search grid: every parameter needs a grid or choice list"),
    (("resources: {cpu: 2}", "resources: {tpu: 2}"), "resources: expected cpu and gpu counts"),
    (("scl.temperature:", "scl.temprature:"), "param_space keys ['scl.temprature'] are not keys of PretrainConfig"),
    (("scl/smoke.yaml", "scl/nothing.yaml"), "base: jobs/configs/scl/nothing.yaml is not a file"),
])
def test_bad_spaces_name_the_file_and_the_key(tmp_path, change, message):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as error:
        load_space(path, PretrainConfig)
    assert message in str(error.value)
    assert str(path) in str(error.value)


BASE = """
run_dir: runs/x
corpus: corpora/wiki80_k8_smollm2
init_from: {init_from}
loop: {{max_steps: 4, batch_size: 4, eval_every: 2}}
scl: {{temperature: 0.1}}
val: {{holdout: 6, limit_per_relation: 12, episodes: 20}}
"""
SPACE = """
base: {base}
metric: val/acc
scheduler: {{kind: asha, max_t: 2, grace_period: 1}}
resources: {{cpu: 1}}
num_samples: 2
param_space:
  scl.temperature: {{loguniform: [0.02, 0.5]}}
  support_k: {{grid: [2, 8]}}
"""


def sweep_files(tmp_path, base_change=("", ""), space_change=("", "")):
    from tkre.models.encoder import resolve_model

    base = tmp_path / "base.yaml"
    base.write_text(BASE.format(init_from=resolve_model("minilm")).replace(*base_change))
    space = tmp_path / "space.yaml"
    space.write_text(SPACE.format(base=base).replace(*space_change))
    return str(space)


def test_trials_get_one_worker_with_their_resources_and_a_report_at_every_validation(tmp_path):
    from jobs.sweep import check_sweep
    from tkre.launch.sweep import fixed_overrides, trial_overrides

    path = sweep_files(tmp_path)
    space = load_space(path, PretrainConfig)
    fixed = fixed_overrides(space, ["engine.lr=1.0e-4"])
    assert check_sweep(space, path, fixed).engine.lr == 1e-4
    assert fixed == ["engine.lr=1.0e-4", "workers.num_workers=1", "workers.cpus_per_worker=1.0", "workers.use_gpu=false",
                     "loop.log_every=2", "loop.checkpoint_every=2"]
    assert trial_overrides(fixed, {"support_k": 8, "scl.temperature": 0.05})[-2:] == ["scl.temperature=0.05", "support_k=8"]


@pytest.mark.parametrize("value", [0.07312345678901234, 1e-05, 3, True, None, [1, 5], "runs/a b"])
def test_an_override_reads_back_exactly_the_sampled_value(value):
    import numpy as np

    from tkre.config import apply_override
    from tkre.launch.sweep import override

    data = {}
    apply_override(data, override("a.b", value))
    assert data == {"a": {"b": value}}
    apply_override(data, override("a.c", np.int64(4)))  # Tune's integer samplers give numpy scalars
    assert data["a"]["c"] == 4 and type(data["a"]["c"]) is int


@pytest.mark.parametrize("base_change, space_change, message", [
    (("val: {holdout: 6, limit_per_relation: 12, episodes: 20}", ""), ("", ""), "has no val section"),
    (("episodes: 20}", "episodes: 20, split: test}"), ("", ""), "val.split: validation never reads a test split"),
    (("", ""), ("metric: val/acc", "metric: val/accuracy"), "metric 'val/accuracy': trials report val/acc"),
    (("", ""), ("support_k: {grid: [2, 8]}", "workers.num_workers: {grid: [1, 2]}"), "are set by the sweep itself"),
    (("", ""), ("support_k: {grid: [2, 8]}", "support_k: {grid: [2, eight]}"),
     "param_space.support_k = 'eight': "),
    (("scl: {temperature: 0.1}", ""), ("", ""), "scl: the scl stage needs its settings"),
    (("", ""), ("", ""), None),
])
def test_a_sweep_is_refused_before_launch_naming_the_file(tmp_path, base_change, space_change, message):
    from jobs.sweep import check_sweep
    from tkre.launch.sweep import fixed_overrides

    path = sweep_files(tmp_path, base_change, space_change)

    def check():
        space = load_space(path, PretrainConfig)
        check_sweep(space, path, fixed_overrides(space, []))

    if message is None:
        check()
        return
    with pytest.raises(ConfigError) as error:
        check()
    assert message in str(error.value) and str(error.value).startswith(path)


def test_a_missing_stage_1_export_is_refused(tmp_path):
    from jobs.sweep import check_sweep
    from tkre.launch.sweep import fixed_overrides

    path = sweep_files(tmp_path)
    (tmp_path / "base.yaml").write_text((tmp_path / "base.yaml").read_text().replace("init_from: /", "init_from: /nothing/"))
    space = load_space(path, PretrainConfig)
    with pytest.raises(ConfigError, match=r"space.yaml: init_from /nothing/.*no such folder \(run the mslm stage first\)"):
        check_sweep(space, path, fixed_overrides(space, []))


@pytest.mark.parametrize("path", sorted(Path("tune_spaces").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_space_loads_against_its_base(path):
    space = load_space(path, PretrainConfig)
    assert space.metric == "val/acc" and "scl.temperature" in space.param_space
