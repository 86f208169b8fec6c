"""sweep job: a Ray Tune search over the SCL stage (temperature, shot settings), scored by episodic validation.

Reads a space (``tune_spaces/*.yaml``), checks it and its base config before anything launches,
then runs one SCL trial per sample on a local Ray runtime or the cluster at ``RAY_ADDRESS``. Each
trial is the base config plus ``--set`` overrides (the sweep's fixed ones, then its sampled
values), so ``python -m jobs.pretrain_scl --config <base> --set ...`` replays it exactly. Trials
report validation accuracy on frozen episodes of held-out relations every ``loop.eval_every``
steps; ASHA stops the weak ones. Rerunning an interrupted sweep resumes it. Leaves, beside Tune's
files in ``<storage>/<name>`` (a folder or ``s3://`` prefix): ``results.csv``, ``results.md``
(sorted by the metric), ``results.png`` (accuracy against temperature per shot setting),
``best.yaml`` (a ready pretrain_scl config) and ``summary.json``. Ends with one JSON line.

Usage::

    python -m jobs.sweep --space tune_spaces/scl_temperature_shots.yaml [--storage runs/sweeps] [--set key=value]
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shlex
import sys
import time

import yaml

from jobs.pretrain import PretrainJobConfig, check_stage, corpus_texts, resolve_paths, train_stage
from tkre.config import ConfigError, config_yaml, load_config
from tkre.launch.space import SweepSpace, load_space
from tkre.storage import open_storage

SET_BY_THE_SWEEP = ("run_dir", "workers", "loop.log_every", "loop.checkpoint_every")
FIRST = "first_validation"  # the metric at every trial's first validation: all trials compared at one budget


def override(key: str, value) -> str:
    """``key=value`` with the value written as YAML, so ``--set`` reads back exactly this value."""
    value = value.item() if hasattr(value, "item") else value  # numpy scalars from Tune's samplers
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
    return f"{key}={text.removesuffix('...').strip()}"


def trial_overrides(fixed: list[str], sampled: dict) -> list[str]:
    """The overrides that make a trial: the sweep's fixed ones, then the sampled values by key."""
    return fixed + [override(key, sampled[key]) for key in sorted(sampled)]


def sweep_trial(sampled: dict, base: str, fixed: list[str]) -> None:
    """One Tune trial: the base config with its overrides, trained on this process through the Tune context."""
    import torch.distributed as dist

    from tkre.launch.tune import TuneContext, original_cwd

    root = original_cwd()
    cfg = resolve_paths(load_config(PretrainJobConfig, os.path.join(root, base), trial_overrides(fixed, sampled)), root)
    texts, heldout = corpus_texts(cfg)
    ctx = TuneContext()
    try:
        train_stage(cfg, texts, heldout, ctx)
    finally:
        ctx.close()
        if dist.is_initialized():
            dist.destroy_process_group()


def fixed_overrides(space: SweepSpace, base_overrides: list[str]) -> list[str]:
    """What every trial shares: one worker with the trial's resources, a report (checkpoint) at every evaluation."""
    cfg = load_config(PretrainJobConfig, space.base, base_overrides)
    cpus = space.resources.get("cpu", 1)
    return [*base_overrides, "workers.num_workers=1", f"workers.cpus_per_worker={float(max(cpus, 1))}",
            f"workers.use_gpu={str(space.resources.get('gpu', 0) > 0).lower()}",
            f"loop.log_every={cfg.loop.eval_every}", f"loop.checkpoint_every={cfg.loop.eval_every}"]


def check_sweep(space: SweepSpace, space_path: str, fixed: list[str]) -> PretrainJobConfig:
    """Fails before launch on anything a trial would fail on: keys, values, the stage, metric, corpus, split."""
    where = f"{space_path}: "
    owned = sorted(k for k in space.param_space if any(k == s or k.startswith(s + ".") for s in SET_BY_THE_SWEEP))
    if owned:
        raise ConfigError(f"{where}param_space keys {owned} are set by the sweep itself")
    cfg = load_config(PretrainJobConfig, space.base, fixed)
    for key, param in space.param_space.items():  # every listed value, both ends of every range
        values = param.values if param.kind in ("choice", "grid") else param.values[:2]
        for value in values:
            try:
                load_config(PretrainJobConfig, space.base, [*fixed, override(key, value)])
            except ConfigError as e:
                raise ConfigError(f"{where}param_space.{key} = {value!r}: {e}") from None
    if cfg.val is None:
        raise ConfigError(f"{where}base {space.base} has no val section: trials are scored by episodic validation")
    if cfg.val.split == "test":
        raise ConfigError(f"{where}base {space.base}: val.split is test; a sweep selects on validation data only")
    metrics = ["val/acc", *(f"val/acc_{cfg.val.n_way}w{k}s" for k in cfg.val.k_shots), "loss", "mslm", "scl"]
    if space.metric not in metrics:
        raise ConfigError(f"{where}metric {space.metric!r}: trials report {', '.join(metrics)}")
    try:
        check_stage(cfg, "scl")
    except ValueError as e:
        raise ConfigError(f"{where}base {space.base}: {e}") from None
    resolved = resolve_paths(copy.deepcopy(cfg), os.getcwd())
    if "://" not in resolved.init_from and not os.path.isdir(resolved.init_from):
        raise ConfigError(f"{where}init_from {cfg.init_from}: no such folder (run the mslm stage first)")
    texts, heldout = corpus_texts(resolved)
    print(f"[sweep] {len(texts)} pre-training texts, {len(heldout)} relations held out for validation", file=sys.stderr)
    return cfg


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


def markdown_table(rows: list[dict], keys: list[str], metrics: list[str], first: str) -> str:
    head = ["trial", *keys, *metrics, "step", "ASHA-stopped", first]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        cells = [r["trial"], *(_fmt(r.get(k)) for k in keys), *(_fmt(r.get(m)) for m in metrics),
                 str(r["step"]), "yes" if r["stopped_early"] else "", _fmt(r.get(FIRST))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"
    return "" if value is None else str(value)


def plot(rows: list[dict], keys: list[str], metrics: list[str], path: str, title: str) -> None:
    """Accuracy against the temperature (or the first swept key): a panel per metric, a line per shot setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_key = "scl.temperature" if "scl.temperature" in keys else keys[0]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        label = ", ".join(f"{k.split('.')[-1]}={r.get(k)}" for k in keys if k != x_key) or "all trials"
        groups.setdefault(label, []).append(r)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, members in sorted(groups.items()):
            members = sorted((r for r in members if metric in r), key=lambda r: r[x_key])
            line, = ax.plot([r[x_key] for r in members], [r[metric] for r in members], "-", alpha=0.6, label=label)
            done = [r for r in members if not r["stopped_early"]]
            ax.plot([r[x_key] for r in done], [r[metric] for r in done], "o", color=line.get_color())
            stopped = [r for r in members if r["stopped_early"]]
            ax.plot([r[x_key] for r in stopped], [r[metric] for r in stopped], "o", mfc="none", color=line.get_color())
        if x_key == "scl.temperature":
            ax.set_xscale("log")
            ax.set_xticks([0.02, 0.05, 0.1, 0.2, 0.5], ["0.02", "0.05", "0.1", "0.2", "0.5"])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.axvline(0.1, color="grey", ls=":", lw=1)  # the paper's temperature
        ax.set_xlabel(x_key)
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, title="filled: full budget, hollow: ASHA-stopped", title_fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_results(rows: list[dict], space: SweepSpace, space_path: str, fixed: list[str], path: str) -> dict:
    """results.csv / .md / .png, best.yaml and summary.json under the sweep's folder (local or s3://)."""
    import csv
    import io
    import tempfile

    store = open_storage(path)
    keys = list(space.param_space)
    metrics = sorted({k for r in rows for k in r if k.startswith("val/")}, key=lambda k: (k != "val/acc", k))
    columns = ["trial", *keys, *metrics, "step", "stopped_early", FIRST, "error", "overrides"]
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({**r, "overrides": " ".join(f"--set {shlex.quote(o)}" for o in r["overrides"])} for r in rows)
    store.write_text("results.csv", text.getvalue())
    first = f"{space.metric} at the first validation"
    store.write_text("results.md", markdown_table(rows, keys, metrics, first) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "results.png")
        plot(rows, keys, [m for m in metrics if m != "val/acc"] or metrics, png, f"{os.path.basename(space_path)}: "
             f"validation accuracy after the SCL trial")
        with open(png, "rb") as f:
            store.write_bytes("results.png", f.read())
    best = rows[0]
    cfg = load_config(PretrainJobConfig, space.base, best["overrides"])
    cfg.run_dir = f"{cfg.run_dir.rstrip('/')}_best"
    store.write_text("best.yaml", f"# best trial {best['trial']} of {space_path} ({space.metric} = {best[space.metric]:.2f})\n"
                     f"#   python -m jobs.pretrain_scl --config best.yaml\n" + config_yaml(cfg))
    summary = {"sweep": os.path.basename(space_path).removesuffix(".yaml"), "path": path, "trials": len(rows),
               "metric": space.metric, "best_trial": best["trial"], "best": best[space.metric],
               "best_params": {k: best.get(k) for k in keys}, "stopped_early": sum(r["stopped_early"] for r in rows),
               "errors": sum(bool(r["error"]) for r in rows)}
    store.write_text("summary.json", json.dumps({**summary, "rows": rows}, indent=2))
    return summary


def sweep(space_path: str, storage: str, name: str | None, base_overrides: list[str],
          max_concurrent: int | None = None) -> dict:
    from tkre.launch.tune import run_tuner

    space = load_space(space_path, PretrainJobConfig)
    fixed = fixed_overrides(space, base_overrides)
    cfg = check_sweep(space, space_path, fixed)
    name = name or os.path.basename(space_path).removesuffix(".yaml")
    storage = storage if "://" in storage else os.path.abspath(storage)
    start = time.time()
    grid = run_tuner(functools.partial(sweep_trial, base=space.base, fixed=fixed), space, storage, name,
                     seed=cfg.loop.seed, max_concurrent_trials=max_concurrent)
    rows = result_rows(grid, space, fixed, cfg.loop.max_steps)
    if not any(space.metric in r for r in rows):
        raise RuntimeError(f"no trial reported {space.metric}; errors: {[r['error'] for r in rows if r['error']]}")
    summary = write_results(rows, space, space_path, fixed, f"{storage.rstrip('/')}/{name}")
    return {**summary, "wall_s": round(time.time() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.sweep ...`` is ``tkre sweep ...``: same arguments, errors and summary line."""
    from tkre.cli import main as cli

    return cli(["sweep", *(sys.argv[1:] if argv is None else argv)])


def run(space: str, storage: str, name: str | None, overrides: list[str], max_concurrent: int | None = None) -> dict:
    """Runs the sweep, then stops Ray so its logs end before the summary line."""
    import ray

    summary = sweep(space, storage, name, overrides, max_concurrent)
    if ray.is_initialized():
        ray.shutdown()
    return summary


if __name__ == "__main__":
    sys.exit(main())
