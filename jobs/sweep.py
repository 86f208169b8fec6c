"""sweep job: a Ray Tune search over the SCL stage (temperature, shot settings), scored by episodic validation.

Reads a space (``tune_spaces/*.yaml``), checks it and its base config before anything launches,
then runs one SCL trial per sample on a local Ray runtime or the cluster at ``RAY_ADDRESS``. Each
trial is the base config plus ``--set`` overrides, so ``python -m jobs.pretrain scl --config <base> --set ...``
replays it exactly. Trials report validation accuracy on frozen episodes of held-out relations
every ``loop.eval_every`` steps; ASHA stops the weak ones. Rerunning an interrupted sweep resumes
it. Leaves, beside Tune's files in ``<storage>/<name>`` (a folder or ``s3://`` prefix):
``results.csv``, ``results.md`` (sorted by the metric), ``results.png`` (accuracy against
temperature per shot setting), ``best.yaml`` (a ready scl config) and ``summary.json``. Ends with
one JSON line.

Usage: ``python -m jobs.sweep --space tune_spaces/scl_temperature_shots.yaml [--storage runs/sweeps] [--set key=value]``
(= ``tkre sweep ...``)
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import shlex
import sys
import time

from tkre.config import ConfigError, FieldError, config_yaml, job_parser, load_config
from tkre.errors import user_errors
from tkre.launch.session import stop_ray
from tkre.launch.space import SweepSpace, load_space
from tkre.launch.sweep import SET_BY_THE_SWEEP, fixed_overrides, override, result_rows, sweep_trial
from tkre.report.sweep import FIRST, plot_sweep, sweep_table
from tkre.storage import absolute, is_remote, join, open_storage
from tkre.tracking import job_run, open_tracking
from tkre.train.config import PretrainConfig, check_stage
from tkre.train.stage import corpus_texts, resolve_paths


def check_sweep(space: SweepSpace, space_path: str, fixed: list[str]) -> PretrainConfig:
    """Fails before launch on anything a trial would fail on: keys, values, the stage, metric, corpus, split."""
    where = f"{space_path}: "
    owned = sorted(k for k in space.param_space if any(k == s or k.startswith(s + ".") for s in SET_BY_THE_SWEEP))
    if owned:
        raise ConfigError(f"{where}param_space keys {owned} are set by the sweep itself")
    cfg = load_config(PretrainConfig, space.base, fixed)
    for key, param in space.param_space.items():  # every listed value, both ends of every range
        values = param.values if param.kind in ("choice", "grid") else param.values[:2]
        for value in values:
            try:
                load_config(PretrainConfig, space.base, [*fixed, override(key, value)])
            except ConfigError as e:
                raise ConfigError(f"{where}param_space.{key} = {value!r}: {e}") from None
    if cfg.val is None:
        raise ConfigError(f"{where}base {space.base} has no val section: trials are scored by episodic validation")
    metrics = ["val/acc", *(f"val/acc_{cfg.val.n_way}w{k}s" for k in cfg.val.k_shots), "loss", "mslm", "scl"]
    if space.metric not in metrics:
        raise ConfigError(f"{where}metric {space.metric!r}: trials report {', '.join(metrics)}")
    try:
        check_stage(cfg, "scl")
    except FieldError as e:
        raise ConfigError(f"{where}base {space.base}: {e}") from None
    resolved = resolve_paths(cfg, os.getcwd())
    if not is_remote(resolved.init_from) and not os.path.isdir(resolved.init_from):
        raise ConfigError(f"{where}init_from {cfg.init_from}: no such folder (run the mslm stage first)")
    texts, heldout = corpus_texts(resolved)
    print(f"[sweep] {len(texts)} pre-training texts, {len(heldout)} relations held out for validation", file=sys.stderr)
    return cfg


def write_results(rows: list[dict], space: SweepSpace, space_path: str, fixed: list[str], path: str) -> dict:
    """results.csv / .md / .png, best.yaml and summary.json under the sweep's folder (local or s3://)."""
    store = open_storage(path)
    keys = list(space.param_space)
    metrics = sorted({k for r in rows for k in r if k.startswith("val/")}, key=lambda k: (k != "val/acc", k))
    columns = ["trial", *keys, *metrics, "step", "stopped_early", FIRST, "error", "overrides"]
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({**r, "overrides": " ".join(f"--set {shlex.quote(o)}" for o in r["overrides"])} for r in rows)
    store.write_text("results.csv", text.getvalue())
    store.write_text("results.md", sweep_table(rows, keys, metrics, f"{space.metric} at the first validation") + "\n")
    store.write_bytes("results.png", plot_sweep(rows, keys, [m for m in metrics if m != "val/acc"] or metrics,
                                                f"{os.path.basename(space_path)}: validation accuracy after the SCL trial"))
    best = rows[0]
    cfg = load_config(PretrainConfig, space.base, best["overrides"])
    cfg.run_dir = f"{cfg.run_dir.rstrip('/')}_best"
    store.write_text("best.yaml", f"# best trial {best['trial']} of {space_path} ({space.metric} = {best[space.metric]:.2f})\n"
                     f"#   python -m jobs.pretrain scl --config best.yaml\n" + config_yaml(cfg))
    summary = {"sweep": os.path.basename(space_path).removesuffix(".yaml"), "path": path, "trials": len(rows),
               "metric": space.metric, "best_trial": best["trial"], "best": best[space.metric],
               "best_params": {k: best.get(k) for k in keys}, "stopped_early": sum(r["stopped_early"] for r in rows),
               "errors": sum(bool(r["error"]) for r in rows)}
    store.write_text("summary.json", json.dumps({**summary, "rows": rows}, indent=2))
    return summary


def run(space_path: str, storage: str = "runs/sweeps", name: str | None = None, base_overrides: list[str] = (),
        max_concurrent: int | None = None) -> dict:
    """Checks the space, runs the trials, writes the results; returns the summary. In MLflow (the base
    config's ``tracking``) the sweep is one run, each trial a run nested under it through Ray Tune's callback."""
    from tkre.launch.tune import mlflow_callbacks, run_tuner

    space = load_space(space_path, PretrainConfig)
    fixed = fixed_overrides(space, list(base_overrides))
    cfg = check_sweep(space, space_path, fixed)
    tracking = open_tracking(cfg.tracking)
    name = name or os.path.basename(space_path).removesuffix(".yaml")
    storage = absolute(storage)
    open_storage(storage).check()
    start = time.time()
    params = {"space": space_path, "base": space.base, "fixed": fixed, "metric": space.metric, "mode": space.mode,
              "search": space.search, "num_samples": space.num_samples,
              "param_space": {k: f"{p.kind} {p.values}" for k, p in space.param_space.items()}}
    folder = join(storage, name)
    with job_run(tracking, "sweep", params, record=open_storage(folder), tags={"tkre.sweep": folder}) as tracked:
        grid = run_tuner(functools.partial(sweep_trial, base=space.base, fixed=fixed), space, storage, name,
                         seed=cfg.loop.seed, max_concurrent_trials=max_concurrent,
                         callbacks=mlflow_callbacks(tracked.remote(folder), cfg.tracking.experiment))
        rows = result_rows(grid, space, fixed, cfg.loop.max_steps)
        if not any(space.metric in r for r in rows):
            raise RuntimeError(f"no trial reported {space.metric}; errors: {[r['error'] for r in rows if r['error']]}")
        summary = write_results(rows, space, space_path, fixed, folder)
        tracked.metrics({"best": summary["best"], "trials": summary["trials"], "errors": summary["errors"],
                         "stopped_early": summary["stopped_early"]})
        tracked.artifacts(open_storage(folder), ["results.md", "results.png", "results.csv", "best.yaml", "summary.json"])
    return {**summary, "wall_s": round(time.time() - start, 1)}


def main(argv: list[str] | None = None, prog: str = "python -m jobs.sweep") -> dict:
    parser = job_parser(__doc__.split("\n")[0], prog, config=False)
    parser.add_argument("--space", required=True, help="a YAML file such as tune_spaces/scl_temperature_shots.yaml")
    parser.add_argument("--storage", default="runs/sweeps", help="a folder or s3:// prefix for trials and results")
    parser.add_argument("--name", help="the sweep's folder under --storage (default: the space file's name)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a base config key")
    parser.add_argument("--max-concurrent", type=int, help="at most this many trials at once")
    with user_errors(prog):
        args = parser.parse_args(argv)
        summary = run(args.space, args.storage, args.name, args.set, args.max_concurrent)
    stop_ray()
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
