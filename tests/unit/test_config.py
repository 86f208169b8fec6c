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
