"""A sweep's trials: the base config plus ``--set`` overrides, trained in the trial process through Tune.

Each trial is the base config plus the sweep's fixed overrides (one worker with the trial's
resources, a report and checkpoint at every validation) and its sampled values, written as
``key=value`` YAML so ``python -m jobs.pretrain scl --config <base> --set ...`` replays it exactly.

Usage::

    fixed = fixed_overrides(space, base_overrides)
    grid = run_tuner(functools.partial(sweep_trial, base=space.base, fixed=fixed), space, storage, name)
    rows = result_rows(grid, space, fixed, max_steps)
"""

from __future__ import annotations

import os

import yaml

from tkre.config import load_config
from tkre.launch.space import SweepSpace
from tkre.report.sweep import FIRST
from tkre.train.config import PretrainConfig
from tkre.train.stage import corpus_texts, resolve_paths, train_stage

SET_BY_THE_SWEEP = ("run_dir", "workers", "loop.log_every", "loop.checkpoint_every")


def override(key: str, value) -> str:
    """``key=value`` with the value written as YAML, so ``--set`` reads back exactly this value."""
    value = value.item() if hasattr(value, "item") else value  # numpy scalars from Tune's samplers
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
    return f"{key}={text.removesuffix('...').strip()}"


def trial_overrides(fixed: list[str], sampled: dict) -> list[str]:
    """The overrides that make a trial: the sweep's fixed ones, then the sampled values by key."""
    return fixed + [override(key, sampled[key]) for key in sorted(sampled)]


def fixed_overrides(space: SweepSpace, base_overrides: list[str]) -> list[str]:
    """What every trial shares: one worker with the trial's resources, a report (checkpoint) at every evaluation."""
    cfg = load_config(PretrainConfig, space.base, base_overrides)
    cpus = space.resources.get("cpu", 1)
    return [*base_overrides, "workers.num_workers=1", f"workers.cpus_per_worker={float(max(cpus, 1))}",
            f"workers.use_gpu={str(space.resources.get('gpu', 0) > 0).lower()}",
            f"loop.log_every={cfg.loop.eval_every}", f"loop.checkpoint_every={cfg.loop.eval_every}"]


def sweep_trial(sampled: dict, base: str, fixed: list[str]) -> None:
    """One Tune trial: the base config with its overrides, trained on this process through the Tune context."""
    import torch.distributed as dist

    from tkre.launch.tune import TuneContext, original_cwd

    root = original_cwd()
    cfg = resolve_paths(load_config(PretrainConfig, os.path.join(root, base), trial_overrides(fixed, sampled)), root)
    texts, heldout = corpus_texts(cfg)
    ctx = TuneContext()
    try:
        train_stage(cfg, texts, heldout, ctx)
    finally:
        ctx.close()
        if dist.is_initialized():
            dist.destroy_process_group()


def result_rows(grid, space: SweepSpace, fixed: list[str], max_steps: int) -> list[dict]:
    """One row per trial (its last report), sorted by the metric, best first."""
    rows = []
    for result in grid:
        sampled = {k: result.config[k] for k in space.param_space if k in result.config}
        metrics = result.metrics or {}
        history = result.metrics_dataframe
        first = history[space.metric].iloc[0] if history is not None and space.metric in history else None
        rows.append({"trial": metrics.get("trial_id", os.path.basename(result.path)), **sampled,
                     **{k: v for k, v in metrics.items() if k.startswith("val/")}, FIRST: first,
                     "step": metrics.get("step", 0), "stopped_early": metrics.get("step", 0) < max_steps,
                     "error": str(result.error).strip().splitlines()[-1] if result.error else "",
                     "overrides": trial_overrides(fixed, sampled)})
    scored = [r for r in rows if space.metric in r]
    scored.sort(key=lambda r: r[space.metric], reverse=space.mode == "max")
    return scored + [r for r in rows if space.metric not in r]
