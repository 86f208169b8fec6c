"""Sweep search spaces: good files load, bad ones are refused with the file and key named."""

import pytest

from jobs.pretrain import PretrainJobConfig
from tkre.config import ConfigError
from tkre.launch.space import Param, config_has_key, load_space

GOOD = """
base: jobs/configs/pretrain_scl/smoke.yaml
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
    space = load_space(write(tmp_path, GOOD), PretrainJobConfig)
    assert space.metric == "val_acc_5w1s" and space.num_samples == 4 and space.scheduler.max_t == 4
    assert space.param_space["scl.temperature"] == Param("loguniform", [0.02, 0.5])
    assert space.param_space["loop.max_steps"] == Param("choice", [2, 4])


def test_dotted_keys_follow_nested_and_optional_dataclasses():
    assert config_has_key(PretrainJobConfig, "scl.temperature")  # scl is Optional[SCLSettings]
    assert config_has_key(PretrainJobConfig, "masking.relation")
    assert not config_has_key(PretrainJobConfig, "scl.temprature")
    assert not config_has_key(PretrainJobConfig, "max_length.x")


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
    (("scl.temperature:", "scl.temprature:"), "param_space keys ['scl.temprature'] are not keys of PretrainJobConfig"),
    (("pretrain_scl/smoke.yaml", "pretrain_scl/nothing.yaml"), "base: jobs/configs/pretrain_scl/nothing.yaml is not a file"),
])
def test_bad_spaces_name_the_file_and_the_key(tmp_path, change, message):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as error:
        load_space(path, PretrainJobConfig)
    assert message in str(error.value)
    assert str(path) in str(error.value)
