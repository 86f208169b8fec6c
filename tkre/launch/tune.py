"""Ray Tune wiring: the loop's context inside a trial, search spaces as Tune distributions, and the Tuner.

A trial is one process (its resources from the space) that runs the shared train loop through
``TuneContext``: every report goes to Tune (ASHA reads it), checkpoints are persisted under the
sweep's storage path (local or ``s3://``), and a trial resumed after an interruption continues from
its last one. ``run_tuner`` restores an interrupted sweep with ``Tuner.restore`` when its folder
exists, so rerunning the same command finishes it.

Usage::

    grid = run_tuner(trial_fn, space, storage_path="runs/sweeps", name="scl_temperature_shots")
    grid.get_dataframe()            # the last reported result of every trial
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from typing import Callable

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator

from tkre.launch.session import init_ray
from tkre.launch.space import Param, SweepSpace


class TuneContext:
    """The loop's context in a Tune trial: one rank, checkpoints through ``tune.report``."""

    rank, world_size = 0, 1

    def __init__(self):
        self.scratch = tempfile.mkdtemp(prefix="tkre-trial-")
        with socket.socket() as s:  # a process group of one (DeepSpeed needs one), on a port of its own
            s.bind(("127.0.0.1", 0))
            os.environ["MASTER_PORT"] = str(s.getsockname()[1])

    def latest_checkpoint(self) -> str | None:
        checkpoint = tune.get_checkpoint()
        return None if checkpoint is None else checkpoint.to_directory(os.path.join(self.scratch, "restored"))

    def checkpoint_folder(self, step: int) -> str:
        folder = os.path.join(self.scratch, f"step-{step:06d}")
        os.makedirs(folder, exist_ok=True)
        return folder

    def report(self, metrics: dict, checkpoint: str | None) -> None:
        """Reports to Tune; a checkpoint is persisted to the sweep's storage, then its local copy removed."""
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(checkpoint) if checkpoint else None)
        if checkpoint:
            shutil.rmtree(checkpoint, ignore_errors=True)
            shutil.rmtree(os.path.join(self.scratch, "restored"), ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def original_cwd() -> str:
    """The folder the sweep was started from (Tune runs trials in their own folders)."""
    return os.environ.get("TUNE_ORIG_WORKING_DIR", os.getcwd())


def tune_param(param: Param, search: str):
    """One space parameter as a Tune distribution; under grid search a ``choice`` is enumerated too."""
    kind, values = param.kind, param.values
    if kind == "grid" or (kind == "choice" and search == "grid"):
        return tune.grid_search(values)
    if kind == "choice":
        return tune.choice(values)
    if kind == "uniform":
        return tune.uniform(*values)
    if kind == "loguniform":
        return tune.loguniform(*values)
    return tune.randint(values[0], values[1] + 1)  # both ends included, as the space file reads


def mlflow_callbacks(remote: dict | None, experiment: str) -> list:
    """Ray Tune's own MLflow callback: one run per trial (its sampled values, every report), nested under the
    sweep's run (``JobRun.remote``); none when the sweep is not tracked."""
    if remote is None:
        return []
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    return [MLflowLoggerCallback(tracking_uri=remote["uri"], experiment_name=experiment,
                                 tags={"mlflow.parentRunId": remote["run_id"], "tkre.job": "sweep trial"})]


def run_tuner(trial: Callable[[dict], None], space: SweepSpace, storage_path: str, name: str, seed: int = 0,
              max_concurrent_trials: int | None = None, callbacks: list = ()) -> tune.ResultGrid:
    """Runs (or, when ``<storage_path>/<name>`` holds an interrupted sweep, finishes) the sweep; returns its results.
    ``callbacks`` (e.g. ``mlflow_callbacks``) go to a new sweep; a restored one keeps those it started with."""
    init_ray()
    resources = {k: v for k, v in space.resources.items() if v}
    trainable = tune.with_resources(trial, resources)
    path = f"{storage_path.rstrip('/')}/{name}"
    if tune.Tuner.can_restore(path):
        print(f"[sweep] restoring the sweep in {path}: finished trials are kept, unfinished ones resume",
              file=sys.stderr, flush=True)
        return tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=True).fit()
    s = space.scheduler
    scheduler = (ASHAScheduler(time_attr="training_iteration", max_t=s.max_t, grace_period=s.grace_period,
                               reduction_factor=s.reduction_factor) if s.kind == "asha" else FIFOScheduler())
    if space.search == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        search = OptunaSearch(seed=seed)  # TPE: later samples go where earlier trials scored well
    else:
        search = BasicVariantGenerator(random_state=seed)
    tuner = tune.Tuner(
        trainable,
        param_space={key: tune_param(p, space.search) for key, p in space.param_space.items()},
        tune_config=tune.TuneConfig(metric=space.metric, mode=space.mode, scheduler=scheduler,
                                    num_samples=space.num_samples, max_concurrent_trials=max_concurrent_trials,
                                    search_alg=search),
        run_config=tune.RunConfig(name=name, storage_path=storage_path,
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                                  failure_config=tune.FailureConfig(max_failures=1), callbacks=list(callbacks)),
    )
    return tuner.fit()
