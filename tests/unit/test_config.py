from dataclasses import dataclass, field

import pytest

from tkre.config import ConfigError, load_config, save_config


@dataclass
class Inner:
    tau: float = 0.1
    shots: list[int] = field(default_factory=lambda: [1, 5])


@dataclass
class Outer:
    name: str = "run"
    limit: int | None = None
    inner: Inner = field(default_factory=Inner)


def test_yaml_overrides_and_roundtrip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: a\ninner:\n  tau: 1\n")
    cfg = load_config(Outer, path, ["inner.shots=[8, 16]", "limit=3"])
    assert cfg == Outer("a", 3, Inner(1.0, [8, 16]))
    save_config(cfg, tmp_path / "out.yaml")
    assert load_config(Outer, tmp_path / "out.yaml") == cfg


@pytest.mark.parametrize(
    "text,overrides,message",
    [
        ("nmae: a\n", [], r"unknown keys \['nmae'\]"),
        ("", ["inner.tua=0.2"], r"config.inner: unknown keys \['tua'\]"),
        ("limit: many\n", [], "config.limit"),
        ("inner:\n  shots: 3\n", [], "expected a list"),
        ("", ["novalue"], "expected key.path=value"),
    ],
)
def test_bad_configs_name_the_file_and_key(tmp_path, text, overrides, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as e:
        load_config(Outer, path, overrides)
    if overrides != ["novalue"]:
        assert str(path) in str(e.value)


def test_every_shipped_job_config_loads():
    from pathlib import Path

    from jobs.eval import EvalJobConfig
    from jobs.meta_train import MetaTrainJobConfig
    from jobs.pipeline import PipelineConfig
    from jobs.pretrain import PretrainJobConfig
    from jobs.synthesize import SynthJobConfig

    kinds = {"eval": EvalJobConfig, "meta_train": MetaTrainJobConfig, "pretrain_mslm": PretrainJobConfig,
             "pretrain_scl": PretrainJobConfig, "synthesize": SynthJobConfig, "pipeline": PipelineConfig}
    files = sorted(Path("jobs/configs").glob("*/*.yaml"))
    assert {f.parent.name for f in files} == set(kinds)
    for path in files:
        cfg = load_config(kinds[path.parent.name], path)
        if path.parent.name == "pretrain_scl":
            assert cfg.scl is not None and cfg.init_from not in (None, "minilm"), path
        if path.name.endswith("_gpu.yaml") and path.parent.name != "pipeline":
            assert cfg.workers.use_gpu and cfg.engine.bf16 and cfg.engine.zero_stage == 2, path
