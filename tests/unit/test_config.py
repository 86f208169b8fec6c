from dataclasses import dataclass, field

import pytest

from tkre.config import ConfigError, FieldError, load_config, one_of, positive, save_config


@dataclass
class Inner:
    tau: float = positive(0.1)
    shots: list[int] = field(default_factory=lambda: [1, 5])


@dataclass
class Outer:
    name: str = "run"
    limit: int | None = positive(None)
    pooling: str = one_of("mean", ("mean", "marker"))
    inner: Inner = field(default_factory=Inner)
    extra: Inner | None = None


def test_yaml_overrides_and_roundtrip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: a\ninner:\n  tau: 1\n")
    cfg = load_config(Outer, path, ["inner.shots=[8, 16]", "limit=3"])
    assert cfg == Outer("a", 3, "mean", Inner(1.0, [8, 16]))
    save_config(cfg, tmp_path / "out.yaml")
    assert load_config(Outer, tmp_path / "out.yaml") == cfg


@pytest.mark.parametrize(
    "text,overrides,message",
    [
        ("nmae: a\n", [], "{file}: nmae: unknown key; the config has extra, inner, limit, name, pooling"),
        ("limit: many\n", [], "{file}: limit: expected int, got 'many'"),
        ("inner:\n  shots: 3\n", [], "{file}: inner.shots: expected a list, got 3"),
        ("limit: 0\n", [], "{file}: limit: must be > 0, got 0"),
        ("pooling: cls\n", [], "{file}: pooling: must be one of mean, marker, got 'cls'"),
        ("", ["inner.tua=0.2"], "--set inner.tua=0.2: inner.tua: unknown key; inner has shots, tau"),
        ("", ["inner.tau=-1"], "--set inner.tau=-1: inner.tau: must be > 0, got -1.0"),
        ("", ["extra.tau=hot"], "--set extra.tau=hot: extra.tau: expected float, got 'hot'"),  # inside an optional section
        ("limit: 0\n", ["name=b"], "{file}: limit: must be > 0"),  # the file's value, not the --set
        ("", ["novalue"], "--set novalue: expected key.path=value"),
    ],
)
def test_bad_configs_name_the_file_or_the_set_and_the_exact_field(tmp_path, text, overrides, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(Outer, path, overrides)
    assert str(e.value).startswith(message.format(file=path)), str(e.value)


def test_a_missing_or_broken_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(Outer, tmp_path / "none.yaml")
    (tmp_path / "broken.yaml").write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_config(Outer, tmp_path / "broken.yaml")


def test_rules_between_fields_are_credited_like_field_rules(tmp_path):
    def check(cfg):
        if cfg.limit is not None and cfg.limit > len(cfg.inner.shots):
            raise FieldError("limit", "more than the shots")

    path = tmp_path / "c.yaml"
    path.write_text("limit: 1\n")
    assert load_config(Outer, path, [], check).limit == 1
    with pytest.raises(ConfigError, match=r"^--set limit=5: limit: more than the shots$"):
        load_config(Outer, path, ["limit=5"], check)


def test_every_shipped_job_config_loads():
    import importlib
    from pathlib import Path

    files = sorted(Path("jobs/configs").glob("*/*.yaml"))
    assert {f.parent.name for f in files} == {"eval", "finetune", "meta_train", "mslm", "predict", "scl", "synth",
                                              "pipeline"}
    for path in files:
        job = importlib.import_module(f"jobs.{ {'mslm': 'pretrain', 'scl': 'pretrain'}.get(path.parent.name, path.parent.name)}")
        cfg = load_config(job.Config, path)
        if path.parent.name == "scl":
            assert cfg.scl is not None and cfg.init_from not in (None, "minilm"), path
        if path.name.endswith("_gpu.yaml") and path.parent.name == "predict":
            assert cfg.batch.use_gpu, path
        elif path.name.endswith("_gpu.yaml") and path.parent.name != "pipeline":
            assert cfg.workers.use_gpu and cfg.engine.bf16 and cfg.engine.zero_stage == 2, path
