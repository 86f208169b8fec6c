"""Experiment tracking with MLflow: one run per job, nested under a pipeline's (or a sweep's) parent run.

Every job config has a ``tracking`` section (``TrackingSettings``). By default runs go to MLflow's own
local store, ``mlflow.db`` in the working directory, which ``mlflow ui`` opens from there;
``MLFLOW_TRACKING_URI`` or ``tracking.uri`` points them at a server, and ``tracking.enabled: false``
(or ``TKRE_TRACKING=off`` in the environment) turns tracking off. A server that does not answer when
a job starts is a ``TrackingError`` (one line, exit 2) before anything is written; one that goes away
later costs a warning: the job finishes, and its metrics stay in its run directory
(``tracking_offline.jsonl`` for the per-step ones). Params are the flattened config without
secrets. mlflow is imported only when tracking is on.

Usage::

    tracking = open_tracking(cfg.tracking)              # checks the server now
    run = tracking.start("mslm", cfg, record=open_storage(run_dir))   # reopens the run recorded there, if any
    run.metrics({"loss": 0.4}, step=10); run.artifacts(open_storage(run_dir), ["report.md"]); run.end()
    logger = StepLogger(run.remote(run_dir))            # in a training worker (rank 0): run.remote() crosses processes
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import queue
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tkre.config import checked
from tkre.errors import UserError
from tkre.storage import open_storage

RECORD = "tracking.json"  # in a job's run directory: the run it logs to, reopened by a rerun of the same settings
OFFLINE = "tracking_offline.jsonl"  # per-step metrics the server did not take
SECRET = re.compile(r"(api_?key|secret|token|password|passwd|credential|access_key)", re.IGNORECASE)
# the client's own retries (7, doubling) would hold a job for minutes when the server is gone
CLIENT_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                   "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


class TrackingError(UserError):
    """A tracking server that does not answer when a job starts."""


def _no_credentials(uri: str | None) -> str | None:
    if uri and (urlsplit(uri).username or urlsplit(uri).password):
        return "carries credentials: give them in MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead"
    return None


@dataclass
class TrackingSettings:
    enabled: bool = True  # TKRE_TRACKING=off in the environment also turns it off
    uri: str | None = checked(_no_credentials, None)  # null: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here
    experiment: str = "tkre"
    parent_run: str | None = None  # nest this job's run under that run id (a pipeline sets it for its stages)
    run_name: str | None = None  # null: the job's name (a pipeline names its stages' runs after the stages)


def tracking_on(settings: TrackingSettings) -> bool:
    return settings.enabled and os.environ.get("TKRE_TRACKING", "on").lower() not in ("off", "0", "false", "no")


def resolved_uri(settings: TrackingSettings) -> str:
    """The tracking URI with a local store made absolute (Ray workers start in other folders)."""
    uri = settings.uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    if "://" not in uri:  # a folder
        return str(Path(uri).resolve())
    return uri


def flat_params(cfg: Any) -> dict[str, str]:
    """The config as ``a.b.c -> value`` text, without secrets: keys that name one (``api_key``; not
    ``api_key_env``, which names a variable), values that hold a secret environment variable's value."""
    data = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)
    secrets = {v for k, v in os.environ.items() if SECRET.search(k) and len(v) >= 4}
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}{k}.", v)
            return
        key = prefix[:-1]
        text = json.dumps(value, default=str) if isinstance(value, (list, tuple)) else str(value)
        name = key.rsplit(".", 1)[-1]
        if (SECRET.search(name) and not name.endswith("_env")) or any(s in text for s in secrets):  # *_env: a variable's name
            return
        out[key] = text[:500]

    walk("", data)
    return out


def _numbers(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and v == v}


def _client_defaults() -> None:
    for key, value in CLIENT_DEFAULTS.items():
        os.environ.setdefault(key, value)


def _client(uri: str):
    _client_defaults()
    from mlflow import MlflowClient

    return MlflowClient(uri)


def _shown(uri: str) -> str:
    return uri if "://" in uri else f"folder {uri}"


def _reason(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:160] if text else type(error).__name__


def warn(what: str, error: Exception) -> None:
    print(f"[tracking] warning: {what} ({_reason(error)}); the job goes on, its metrics stay in its run directory",
          file=sys.stderr, flush=True)


def local_artifacts(uri: str) -> str | None:
    """``<folder>/mlruns`` beside a local SQLite store; None (the server's choice) for any other store."""
    if uri.startswith("sqlite:////"):
        return str(Path(uri.removeprefix("sqlite:///")).parent / "mlruns")
    return None


class Tracking:
    """The tracking server of one job (or nothing, when tracking is off)."""

    def __init__(self, settings: TrackingSettings):
        self.settings, self.on = settings, tracking_on(settings)
        self.uri = resolved_uri(settings) if self.on else None
        self.client = self.experiment_id = None

    def check(self) -> "Tracking":
        """Reaches the server and finds (or makes) the experiment; a ``TrackingError`` if it does not answer."""
        if not self.on:
            return self
        try:
            self.client = _client(self.uri)
            experiment = self.client.get_experiment_by_name(self.settings.experiment)
            if experiment is None:
                try:  # a local store keeps its artifacts beside it (the default would be ./mlruns of whoever starts);
                    # the UI shows a training experiment's runs (not its GenAI pages) first
                    self.experiment_id = self.client.create_experiment(self.settings.experiment, local_artifacts(self.uri),
                                                                       tags={"mlflow.experimentKind": "custom_model_development"})
                except Exception:  # made meanwhile by another job
                    self.experiment_id = self.client.get_experiment_by_name(self.settings.experiment).experiment_id
            else:
                self.experiment_id = experiment.experiment_id
        except Exception as error:
            raise TrackingError(f"tracking.uri {_shown(self.uri)}: the MLflow tracking server does not answer "
                                f"({_reason(error)}); "
                                "start it, point MLFLOW_TRACKING_URI elsewhere, or turn tracking off "
                                "(--set tracking.enabled=false)") from None
        return self

    def start(self, name: str, cfg: Any, record=None, tags: dict | None = None) -> "JobRun":
        """A run named ``name`` holding ``cfg``'s params: the one recorded in ``record`` (a run directory's
        storage) when it holds these settings and still exists, else a new one, recorded there."""
        if not self.on:
            return JobRun(None, None)
        params = flat_params(cfg)
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
        known = json.loads(record.read_text(RECORD)) if record is not None and record.exists(RECORD) else {}
        run = JobRun(self.client, None)
        if known.get("uri") == self.uri and known.get("params") == digest and self._alive(known.get("run_id")):
            run.run_id = known["run_id"]
            run.safely("reopen the run", lambda: self.client.update_run(run.run_id, status="RUNNING"))
            return run
        tags = {"tkre.job": name, **(tags or {})}
        if self.settings.parent_run:
            tags["mlflow.parentRunId"] = self.settings.parent_run
        try:
            run.run_id = self.client.create_run(self.experiment_id, run_name=self.settings.run_name or name,
                                                tags=tags).info.run_id
        except Exception as error:
            run.fail("start a run", error)
            return run
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), 100):
            run.safely("log the params", lambda chunk=items[i:i + 100]: self.client.log_batch(run.run_id, params=chunk))
        if record is not None and run.run_id:
            record.write_text(RECORD, json.dumps({"uri": self.uri, "experiment": self.settings.experiment,
                                                  "run_id": run.run_id, "params": digest}, indent=2))
        return run

    def _alive(self, run_id: str | None) -> bool:
        try:
            return bool(run_id) and self.client.get_run(run_id).info.lifecycle_stage == "active"
        except Exception:
            return False


GONE: set[str | None] = set()  # runs whose server stopped answering in this process: one warning for each


class JobRun:
    """One MLflow run; every call after the server stops answering is skipped, with one warning per process."""

    def __init__(self, client, run_id: str | None):
        self.client, self.run_id, self.offline = client, run_id, False

    def active(self) -> bool:
        self.offline = self.offline or self.run_id in GONE
        return self.run_id is not None and not self.offline

    def fail(self, what: str, error: Exception) -> None:
        self.offline = True
        GONE.add(self.run_id)
        warn(f"the tracking server stopped answering when asked to {what}", error)

    def safely(self, what: str, call) -> None:
        if not self.active():
            return
        try:
            call()
        except Exception as error:
            self.fail(what, error)

    def metrics(self, metrics: dict, step: int | None = None) -> None:
        if not self.active():
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, v, now, step or 0) for k, v in _numbers(metrics).items()]
        self.safely("log metrics", lambda: self.client.log_batch(self.run_id, metrics=items))

    def tags(self, tags: dict) -> None:
        if not self.active():
            return
        from mlflow.entities import RunTag

        self.safely("set tags", lambda: self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()]))

    def artifacts(self, store, names: list[str], folder: str | None = None) -> None:
        """Uploads the files ``names`` of ``store`` (a run directory, local or ``s3://``) that exist."""
        if not self.active():
            return
        with tempfile.TemporaryDirectory(prefix="tkre-artifacts-") as scratch:
            for name in names:
                if store.exists(name):
                    local = Path(scratch) / Path(name).name
                    local.write_bytes(store.read_bytes(name))
                    self.safely(f"store {name}", lambda path=str(local): self.client.log_artifact(self.run_id, path, folder))

    def end(self, failed: bool = False) -> None:
        self.safely("end the run", lambda: self.client.set_terminated(self.run_id, "FAILED" if failed else "FINISHED"))

    def remote(self, run_dir: str) -> dict | None:
        """What a training worker needs to log this run's per-step metrics (``StepLogger``)."""
        if not self.active():
            return None
        return {"uri": self.client.tracking_uri, "run_id": self.run_id, "run_dir": run_dir}


def open_tracking(settings: TrackingSettings) -> Tracking:
    """The job's tracking, its server checked now (tracking off: a ``Tracking`` that logs nothing)."""
    return Tracking(settings).check()


@contextlib.contextmanager
def job_run(tracking: Tracking, name: str, cfg: Any, record=None, tags: dict | None = None):
    """``tracking.start(...)``, ended FINISHED, or FAILED when the block raises."""
    run = tracking.start(name, cfg, record, tags)
    try:
        yield run
    except BaseException:
        run.end(failed=True)
        raise
    run.end()


def read_run_file(source: str, name: str) -> str:
    """The artifact ``name`` of the run ``runs:/<run_id>`` on the tracking server (``MLFLOW_TRACKING_URI``
    or the local store), as text."""
    run_id = source.removeprefix("runs:/").strip("/")
    _client_defaults()
    import mlflow.artifacts

    uri = resolved_uri(TrackingSettings())
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=f"runs:/{run_id}/{name}", tracking_uri=uri)).read_text()
    except Exception as error:
        raise TrackingError(f"{source}: no {name} in that run on {_shown(uri)} ({_reason(error)})") from None


class StepLogger:
    """A training loop's per-step metrics (rank 0), sent to the run of ``JobRun.remote`` from a thread of their
    own, off the training's path; when the server stops answering, one warning, and the rest go to
    ``tracking_offline.jsonl`` in the run directory. ``close()`` sends what is left."""

    def __init__(self, remote: dict):
        self.remote, self.kept, self.queue = remote, [], queue.Queue()
        self.thread = threading.Thread(target=self._send, name="tkre-tracking", daemon=True)
        self.thread.start()

    def __call__(self, metrics: dict) -> None:
        self.queue.put(dict(metrics))

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=120)

    def _send(self) -> None:
        self.run = JobRun(None, self.remote["run_id"])
        try:
            self.run.client = _client(self.remote["uri"])  # imports mlflow, off the training thread
        except Exception as error:
            self.run.fail("start the client", error)
        while (metrics := self.queue.get()) is not None:
            self.log(metrics)

    def log(self, metrics: dict) -> None:
        step = int(metrics.get("step", 0))
        values = {k: v for k, v in _numbers(metrics).items() if k not in ("step", "epoch")}
        self.run.metrics(values, step)
        if self.run.offline:
            self.kept.append({"step": step, **values})
            open_storage(self.remote["run_dir"]).write_text(OFFLINE, "".join(json.dumps(x) + "\n" for x in self.kept))


class TrackedContext:
    """A training loop's context whose reports also go to a ``StepLogger``."""

    def __init__(self, ctx, logger: StepLogger):
        self.ctx, self.logger = ctx, logger

    def __getattr__(self, name):
        return getattr(self.ctx, name)

    def report(self, metrics: dict, checkpoint: str | None) -> None:
        self.ctx.report(metrics, checkpoint)
        self.logger(metrics)

    def close(self) -> None:
        self.logger.close()
        self.ctx.close()


def tracked(ctx, remote: dict | None):
    """``ctx`` with its reports also logged, on rank 0 of a tracked run; else ``ctx`` itself."""
    return TrackedContext(ctx, StepLogger(remote)) if remote and ctx.rank == 0 else ctx
