"""MLflow tracking on a local SQLite store: params without secrets, the run a rerun reopens, the off switch,
and a server that does not answer (at start: exit 2 with nothing written; later: a warning, metrics kept)."""

import json
import socket
from dataclasses import dataclass, field

import pytest

from tkre.config import load_config
from tkre.eval.config import EvalConfig
from tkre.errors import ConfigError
from tkre.storage import open_storage
from tkre.tracking import (OFFLINE, RECORD, StepLogger, Tracking, TrackingError, TrackingSettings, flat_params, job_run,
                           open_tracking, read_run_file, resolved_uri)


@dataclass
class LLM:
    model: str = "gpt"
    api_key: str | None = "sk-in-the-config"
    api_key_env: str = "OPENAI_API_KEY"
    base_url: str = "http://127.0.0.1:9/v1"


@dataclass
class Job:
    run_dir: str = "runs/x"
    steps: list[int] = field(default_factory=lambda: [1, 2])
    llm: LLM = field(default_factory=LLM)
    note: str = "plain"


@pytest.fixture
def tracking_on(monkeypatch, tmp_path):
    monkeypatch.setenv("TKRE_TRACKING", "on")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return TrackingSettings(uri=f"sqlite:///{tmp_path}/store/mlflow.db")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once closed


def test_params_are_the_flattened_config_without_secrets(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "plain")  # a secret's value, wherever it shows up
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    params = flat_params(Job(note="uses sk-from-the-environment", llm=LLM(base_url="http://h/v1?plain")))
    assert params == {"run_dir": "runs/x", "steps": "[1, 2]", "llm.model": "gpt", "llm.api_key_env": "OPENAI_API_KEY"}


def test_the_uri_is_the_section_then_the_environment_then_a_local_store_here(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolved_uri(TrackingSettings()) == f"sqlite:///{tmp_path}/mlflow.db"  # what `mlflow ui` here opens
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracker:5000")
    assert resolved_uri(TrackingSettings()) == "http://tracker:5000"
    assert resolved_uri(TrackingSettings(uri="sqlite:///runs/t.db")) == f"sqlite:///{tmp_path}/runs/t.db"


def test_a_tracking_uri_with_credentials_in_it_is_refused():
    with pytest.raises(ConfigError, match=r"--set tracking.uri=https://me:pw@host: tracking.uri: carries credentials"):
        load_config(EvalConfig, "jobs/configs/eval/smoke.yaml", ["tracking.uri=https://me:pw@host"])


def test_a_job_run_logs_params_metrics_artifacts_and_a_rerun_of_the_same_settings_reopens_it(tracking_on, tmp_path,
                                                                                            monkeypatch):
    from mlflow import MlflowClient

    store = open_storage(tmp_path / "run")
    store.write_text("report.md", "# report\n")
    tracking = open_tracking(tracking_on)
    with job_run(tracking, "eval", Job(), record=store) as run:
        run.metrics({"val/acc_5w1s": 0.5, "loss": 1.0, "name": "not a number"}, step=3)
        run.artifacts(store, ["report.md", "missing.md"])
        run.tags({"tkre.export": "runs/x/export"})
    client = MlflowClient(tracking.uri)
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED" and logged.data.metrics == {"val/acc_5w1s": 0.5, "loss": 1.0}
    assert logged.data.params == {"run_dir": "runs/x", "steps": "[1, 2]", "llm.model": "gpt", "llm.api_key_env": "OPENAI_API_KEY",
                                  "llm.base_url": "http://127.0.0.1:9/v1", "note": "plain"}
    assert logged.data.tags["tkre.export"] == "runs/x/export" and logged.data.tags["tkre.job"] == "eval"
    assert [a.path for a in client.list_artifacts(run.run_id)] == ["report.md"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking.uri)  # how `tkre report` finds the server of runs:/ ids
    assert read_run_file(f"runs:/{run.run_id}", "report.md") == "# report\n"
    assert (tmp_path / "store" / "mlruns").is_dir()  # the local store keeps its artifacts beside it
    assert json.loads(store.read_text(RECORD))["run_id"] == run.run_id

    again = tracking.start("eval", Job(), record=store)  # e.g. a training job resumed after a kill
    assert again.run_id == run.run_id
    other = tracking.start("eval", Job(note="changed"), record=store)  # other settings: params are immutable
    assert other.run_id != run.run_id
    child = Tracking(TrackingSettings(uri=tracking_on.uri, parent_run=run.run_id, run_name="baseline")).check().start(
        "eval", Job())  # how a pipeline nests and names its stages' runs
    assert client.get_run(child.run_id).data.tags["mlflow.parentRunId"] == run.run_id
    assert client.get_run(child.run_id).info.run_name == "baseline" and client.get_run(child.run_id).data.tags["tkre.job"] == "eval"
    with pytest.raises(RuntimeError), job_run(tracking, "eval", Job(note="fails")) as failing:
        raise RuntimeError("boom")
    assert client.get_run(failing.run_id).info.status == "FAILED"


@pytest.mark.parametrize("switch", ["env", "config"])
def test_one_switch_turns_tracking_off(tracking_on, tmp_path, monkeypatch, switch):
    settings = tracking_on
    if switch == "env":
        monkeypatch.setenv("TKRE_TRACKING", "off")
    else:
        settings = TrackingSettings(enabled=False, uri=tracking_on.uri)
    with job_run(open_tracking(settings), "eval", Job(), record=open_storage(tmp_path / "run")) as run:
        run.metrics({"loss": 1.0})
    assert run.run_id is None and not (tmp_path / "store").exists() and not (tmp_path / "run").exists()


def test_a_server_that_does_not_answer_at_start_is_one_line_with_exit_2_and_nothing_written(tracking_on, tmp_path, capsys):
    from jobs.eval import main

    run_dir = tmp_path / "eval"
    with pytest.raises(SystemExit) as exit:
        main(["--config", "jobs/configs/eval/smoke.yaml", "--set", f"run_dir={run_dir}",
              "--set", f"tracking.uri=http://127.0.0.1:{closed_port()}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and len(err) == 1
    assert err[0].startswith("python -m jobs.eval: error: tracking.uri http://127.0.0.1:")
    assert "the MLflow tracking server does not answer" in err[0] and "tracking.enabled=false" in err[0]
    assert not run_dir.exists()
    with pytest.raises(TrackingError, match="the MLflow tracking server does not answer"):
        open_tracking(TrackingSettings(uri=f"http://127.0.0.1:{closed_port()}"))


def test_a_step_logger_whose_server_went_away_warns_once_and_keeps_the_steps_in_the_run_dir(tracking_on, tmp_path, capsys):
    remote = {"uri": f"http://127.0.0.1:{closed_port()}", "run_id": "gone", "run_dir": str(tmp_path)}
    logger = StepLogger(remote)
    for step in (1, 2, 3):
        logger({"step": step, "epoch": 0, "loss": 1.0 / step, "tokens_per_s": 100.0})
    logger.close()
    assert capsys.readouterr().err.count("[tracking] warning: the tracking server stopped answering") == 1
    kept = [json.loads(line) for line in (tmp_path / OFFLINE).read_text().splitlines()]
    assert kept == [{"step": s, "loss": 1.0 / s, "tokens_per_s": 100.0} for s in (1, 2, 3)]
