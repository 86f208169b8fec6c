"""YAML configs loaded into dataclasses: unknown keys are errors, ``--set a.b=value`` overrides.

Usage::

    cfg = load_config(EvalJobConfig, "jobs/configs/eval/smoke.yaml", ["episodic.episodes=100"])
    save_config(cfg, run_dir / "config.yaml")
    args = job_arguments("eval job", argv)              # --config FILE [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config file or override that does not fit the job's dataclass."""


def apply_override(data: dict, assignment: str) -> None:
    """Sets ``a.b.c=value`` in a nested dict; the value is parsed as YAML (``3``, ``0.1``, ``[1, 2]``, ``null``)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {assignment!r}: expected key.path=value")
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[leaf] = yaml.safe_load(raw)


def _convert(value: Any, kind: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
        return from_dict(kind, value, where)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not a {kind}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(kind)
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (int, float, str, bool) and not (isinstance(value, kind) and not (kind is int and isinstance(value, bool))):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def from_dict(cls: type, data: Any, where: str = "config") -> Any:
    """Builds dataclass ``cls`` from a dict, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known: {sorted(names)}")
    return cls(**{k: _convert(v, hints[k], f"{where}.{k}") for k, v in data.items()})


def config_data(path: str | Path, overrides: list[str] = ()) -> dict:
    """The YAML mapping at ``path`` with ``overrides`` applied, before it becomes a dataclass."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys")
    for assignment in overrides:
        apply_override(data, assignment)
    return data


def load_config(cls: type, path: str | Path, overrides: list[str] = ()) -> Any:
    """Reads YAML at ``path`` into ``cls`` after applying ``overrides``; errors name the file."""
    data = config_data(path, overrides)
    try:
        return from_dict(cls, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def config_yaml(cfg: Any) -> str:
    """The resolved config as YAML text."""
    return yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False)


def save_config(cfg: Any, path: str | Path) -> None:
    """Writes the resolved config as YAML."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(config_yaml(cfg))


def job_arguments(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """The command line every job takes: ``--config FILE`` and repeatable ``--set KEY=VALUE``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    return parser.parse_args(argv)
