"""Sweep search spaces (``tune_spaces/*.yaml``), read and validated before anything launches.

A space names a base job config, the metric and mode, a scheduler (ASHA or none), a search
algorithm (random, grid, or optuna's model-based TPE), resources per trial, the number of samples, and ``param_space``:
dotted keys of the base config, each with one distribution (``choice``, ``grid``, ``uniform``,
``loguniform``, ``randint``). Errors name the file and the key.

Usage::

    space = load_space("tune_spaces/scl_temperature_shots.yaml")
    space.param_space["scl.temperature"]        # Param(kind="loguniform", values=[0.02, 0.5])
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tkre.config import ConfigError, load_config

KINDS = ("choice", "grid", "uniform", "loguniform", "randint")
SCHEDULERS = ("asha", "none")
ALGORITHMS = ("random", "grid", "optuna")  # optuna: a model-based (TPE) searcher


@dataclass
class Param:
    kind: str
    values: list


@dataclass
class Scheduler:
    kind: str = "asha"
    max_t: int = 1  # ASHA: in units of the trial's reported iterations
    grace_period: int = 1
    reduction_factor: float = 2.0


@dataclass
class SweepSpace:
    base: str  # a job config file, e.g. jobs/configs/scl/minilm.yaml
    metric: str
    mode: str = "max"
    scheduler: Scheduler = field(default_factory=Scheduler)
    search: str = "random"
    resources: dict[str, float] = field(default_factory=lambda: {"cpu": 1.0})
    num_samples: int = 1
    param_space: dict[str, Param] = field(default_factory=dict)


def config_has_key(cls: type, dotted: str) -> bool:
    """Whether ``a.b.c`` names a field through nested (optional) dataclasses of ``cls``."""
    for part in dotted.split("."):
        if not (dataclasses.is_dataclass(cls) and part in {f.name for f in dataclasses.fields(cls)}):
            return False
        kind = typing.get_type_hints(cls)[part]
        options = [a for a in typing.get_args(kind) if a is not type(None)] or [kind]
        cls = next((o for o in options if dataclasses.is_dataclass(o)), options[0])
    return True


def parse_param(key: str, spec: Any) -> Param:
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS:
        raise ConfigError(f"param_space.{key}: expected one of {', '.join(KINDS)} with its values, got {spec!r}")
    kind, values = next(iter(spec.items()))
    if not isinstance(values, list) or not values:
        raise ConfigError(f"param_space.{key}.{kind}: expected a non-empty list, got {values!r}")
    if kind in ("uniform", "loguniform", "randint"):
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if len(values) != 2 or not numeric or not values[0] < values[1]:
            raise ConfigError(f"param_space.{key}.{kind}: expected [low, high] with low < high, got {values!r}")
        if kind == "loguniform" and values[0] <= 0:
            raise ConfigError(f"param_space.{key}.loguniform: the low end must be > 0, got {values[0]!r}")
        if kind == "randint" and not all(isinstance(v, int) for v in values):
            raise ConfigError(f"param_space.{key}.randint: expected integers, got {values!r}")
    return Param(kind, values)


def load_space(path: str | Path, job_config: type | None = None) -> SweepSpace:
    """Reads and checks a space; with ``job_config`` (the base job's dataclass) also its keys and base file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--space {path}: no such sweep space file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"expected a mapping, got {data!r}")
        known = {f.name for f in dataclasses.fields(SweepSpace)}
        unknown = sorted(set(data) - known)
        missing = sorted(k for k in ("base", "metric") if k not in data)
        if unknown or missing:
            raise ConfigError(f"unknown keys {unknown}; known: {sorted(known)}" if unknown else f"missing keys {missing}")
        params = data.pop("param_space", None) or {}
        if not isinstance(params, dict) or not params:
            raise ConfigError("param_space: expected a mapping of dotted config keys to distributions")
        space = SweepSpace(**{**data, "scheduler": _scheduler(data.get("scheduler", {})),
                              "param_space": {key: parse_param(key, spec) for key, spec in params.items()}})
        _check(space)
        if job_config is not None:
            bad = sorted(k for k in space.param_space if not config_has_key(job_config, k))
            if bad:
                raise ConfigError(f"param_space keys {bad} are not keys of {job_config.__name__}")
            if not Path(space.base).is_file():
                raise ConfigError(f"base: {space.base} is not a file")
            load_config(job_config, space.base)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return space


def _scheduler(data: Any) -> Scheduler:
    if not isinstance(data, dict):
        raise ConfigError(f"scheduler: expected a mapping, got {data!r}")
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(Scheduler)})
    if unknown:
        raise ConfigError(f"scheduler: unknown keys {unknown}")
    return Scheduler(**data)


def _check(space: SweepSpace) -> None:
    s = space.scheduler
    checks = [
        (space.mode in ("max", "min"), f"mode: expected max or min, got {space.mode!r}"),
        (s.kind in SCHEDULERS, f"scheduler.kind: expected one of {', '.join(SCHEDULERS)}, got {s.kind!r}"),
        (s.kind != "asha" or 0 < s.grace_period <= s.max_t,
         f"scheduler: expected 0 < grace_period <= max_t, got {s.grace_period} and {s.max_t}"),
        (s.kind != "asha" or s.reduction_factor > 1, f"scheduler.reduction_factor: expected > 1, got {s.reduction_factor}"),
        (space.search in ALGORITHMS, f"search: expected one of {', '.join(ALGORITHMS)}, got {space.search!r}"),
        (isinstance(space.num_samples, int) and space.num_samples >= 1,
         f"num_samples: expected an integer >= 1, got {space.num_samples!r}"),
        (isinstance(space.resources, dict) and set(space.resources) <= {"cpu", "gpu"}
         and all(isinstance(v, (int, float)) and v >= 0 for v in space.resources.values()),
         f"resources: expected cpu and gpu counts >= 0, got {space.resources!r}"),
        (space.search != "grid" or all(p.kind in ("grid", "choice") for p in space.param_space.values()),
         "search grid: every parameter needs a grid or choice list"),
        (space.search != "optuna" or all(p.kind != "grid" for p in space.param_space.values()),
         "search optuna: it samples every parameter; use choice instead of grid"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
