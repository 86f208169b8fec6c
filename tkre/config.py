"""YAML configs loaded into dataclasses: unknown keys, wrong types and broken value rules are errors.

Value rules sit on the fields (``positive``, ``at_least``, ``fraction``, ``one_of``) and run at load
time, so every entry point and every Tune trial gets them. An error names the exact dotted field
and where its value came from: the YAML file, or the ``--set`` argument that set it.

Usage::

    @dataclass
    class Settings:
        steps: int = positive(100)
        pooling: str = one_of("mean", ("marker", "entity", "mean"))

    cfg = load_config(EvalConfig, "jobs/configs/eval/smoke.yaml", ["episodic.episodes=100"])
    save_config(cfg, run_dir / "config.yaml")
    args = job_arguments("eval job", argv, prog="tkre eval")     # --config FILE [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Callable

import yaml

from tkre.errors import ConfigError


class FieldError(ConfigError):
    """A value that does not fit the field at the dotted path ``field``."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


def _rule(default: Any, check: Callable[[Any], str | None]) -> Any:
    kind = "default_factory" if callable(default) else "default"
    return dataclasses.field(**{kind: default}, metadata={"check": check})


def positive(default: Any) -> Any:
    """A number that must be > 0 (None allowed where the type allows it)."""
    return _rule(default, lambda v: None if v > 0 else f"must be > 0, got {v!r}")


def at_least(default: Any, low: float) -> Any:
    """A number that must be >= ``low``."""
    return _rule(default, lambda v: None if v >= low else f"must be >= {low}, got {v!r}")


def fraction(default: Any) -> Any:
    """A number in [0, 1]."""
    return _rule(default, lambda v: None if 0 <= v <= 1 else f"must be in [0, 1], got {v!r}")


def one_of(default: Any, options: tuple) -> Any:
    """One of ``options``; for a list, every item."""
    def check(value):
        bad = [v for v in (value if isinstance(value, list) else [value]) if v not in options]
        return f"must be one of {', '.join(map(str, options))}, got {bad[0]!r}" if bad else None
    return _rule(default, check)


def checked(check: Callable[[Any], str | None], default: Any) -> Any:
    """A field with its own rule: ``check(value)`` returns the problem, or None."""
    return _rule(default, check)


def apply_override(data: dict, assignment: str) -> None:
    """Sets ``a.b.c=value`` in a nested dict; the value is parsed as YAML (``3``, ``0.1``, ``[1, 2]``, ``null``)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {assignment}: expected key.path=value")
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    try:
        node[leaf] = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ConfigError(f"--set {assignment}: the value is not valid YAML") from None


def _convert(value: Any, kind: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
        return from_dict(kind, value, where)
    if origin in (typing.Union, types.UnionType):
        options = [o for o in typing.get_args(kind) if o is not type(None)]
        if value is None and len(options) < len(typing.get_args(kind)):
            return None
        if len(options) == 1:  # Optional[X]: X's own error, at the exact field
            return _convert(value, options[0], where)
        for option in options:
            try:
                return _convert(value, option, where)
            except FieldError:
                continue
        names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
        raise FieldError(where, f"expected {names}, got {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise FieldError(where, f"expected a list, got {value!r}")
        (item,) = typing.get_args(kind)
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (int, float, str, bool) and not (isinstance(value, kind) and not (kind is int and isinstance(value, bool))):
        raise FieldError(where, f"expected {kind.__name__}, got {value!r}")
    return value


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Builds dataclass ``cls`` from a dict, rejecting unknown keys, wrong types and values that break a rule."""
    if not isinstance(data, dict):
        raise FieldError(where or "config", f"expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    prefix = f"{where}." if where else ""
    for key in data:
        if key not in fields:
            raise FieldError(f"{prefix}{key}", f"unknown key; {where or 'the config'} has {', '.join(sorted(fields))}")
    values = {k: _convert(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
    obj = cls(**values)
    for name, problem in broken_rules(obj):
        raise FieldError(f"{prefix}{name}", problem)
    return obj


def broken_rules(obj: Any) -> list[tuple[str, str]]:
    """``(field, problem)`` for each field of the dataclass ``obj`` whose value breaks its rule."""
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        problem = f.metadata["check"](value) if "check" in f.metadata and value is not None else None
        if problem:
            out.append((f.name, problem))
    return out


def config_data(path: str | Path | None, overrides: list[str] = ()) -> dict:
    """The YAML mapping at ``path`` (none: an empty one) with ``overrides`` applied, before it becomes a dataclass."""
    try:
        data = (yaml.safe_load(Path(path).read_text()) or {}) if path is not None else {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys")
    for assignment in overrides:
        apply_override(data, assignment)
    return data


@contextlib.contextmanager
def within(section: str):
    """Field errors raised inside are about ``section``'s fields: ``scl`` + ``init_from`` -> ``scl.init_from``."""
    try:
        yield
    except FieldError as error:
        raise FieldError(f"{section}.{error.field}", error.problem) from None


def blame(error: FieldError, path: str | Path, overrides: list[str] = ()) -> ConfigError:
    """The error, credited to the last ``--set`` that touched its field, else to the file."""
    for assignment in reversed(list(overrides)):
        key = assignment.partition("=")[0]
        if error.field == key or error.field.startswith(key + ".") or error.field.startswith(key + "["):
            return ConfigError(f"--set {assignment}: {error}")
        if key.startswith(error.field + "."):
            return ConfigError(f"--set {assignment}: {error}")
    return ConfigError(f"{path}: {error}")


def build_config(cls: type, data: dict, path: str | Path, overrides: list[str] = (),
                 check: Callable[[Any], None] | None = None) -> Any:
    """``from_dict``, then ``check(cfg)`` (rules between fields); errors credited to the file or the ``--set``."""
    try:
        cfg = from_dict(cls, data)
        if check is not None:
            check(cfg)
        return cfg
    except FieldError as error:
        raise blame(error, path, overrides) from None


def load_config(cls: type, path: str | Path, overrides: list[str] = (), check: Callable[[Any], None] | None = None) -> Any:
    """Reads YAML at ``path`` into ``cls`` after applying ``overrides``; errors name the file or the ``--set``."""
    return build_config(cls, config_data(path, overrides), path, overrides, check)


def config_yaml(cfg: Any) -> str:
    """The resolved config as YAML text."""
    return yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False)


def save_config(cfg: Any, path: str | Path) -> None:
    """Writes the resolved config as YAML."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(config_yaml(cfg))


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors as ``ConfigError`` (one line, exit 2 through ``user_errors``)."""

    def error(self, message: str):
        raise ConfigError(message)


def job_parser(description: str, prog: str | None = None, config: bool = True) -> argparse.ArgumentParser:
    """A job's parser; with ``config``: ``--config FILE`` and repeatable ``--set KEY=VALUE``."""
    parser = _Parser(prog=prog, description=description)
    if config:
        parser.add_argument("--config", required=True, help="a YAML file under jobs/configs/")
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    return parser


def job_arguments(description: str, argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The command line of every config job: ``--config FILE`` and repeatable ``--set KEY=VALUE``."""
    return job_parser(description, prog).parse_args(argv)


def data_arguments(description: str, argv: list[str] | None, prog: str | None, key: str) -> argparse.Namespace:
    """``job_arguments`` plus ``--data FILE``, a user's own data file: the same as ``--set KEY=FILE``."""
    parser = job_parser(description, prog)
    parser.add_argument("--data", metavar="FILE", help=f"your own data file instead of the named dataset (= --set {key}=FILE)")
    args = parser.parse_args(argv)
    if args.data:
        args.set.append(f"{key}={args.data}")
    return args
