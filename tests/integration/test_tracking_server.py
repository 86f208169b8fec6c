"""A real MLflow tracking server that goes away while a job trains: one warning, the job finishes, and the steps
the server missed are kept in the run directory. (The tracked pipeline and sweep: test_pipeline_job.py and
test_sweep_job.py; a server that does not answer at start: tests/unit/test_tracking.py.)"""

import json

from servers import mlflow_server

from jobs.meta_train import main as meta_train
from tkre.tracking import OFFLINE, StepLogger


def test_a_server_gone_mid_training_costs_a_warning_not_the_training(tmp_path, tiny_model, monkeypatch, capsys):
    from mlflow import MlflowClient

    monkeypatch.setenv("TKRE_TRACKING", "on")
    run_dir, folder = tmp_path / "meta", tmp_path / "server"
    folder.mkdir()
    original, steps = StepLogger.log, []

    def log_then_stop_the_server_after_step_2(self, metrics):
        original(self, metrics)
        steps.append(metrics["step"])
        if len(steps) == 2:
            server.terminate()
            server.wait()

    monkeypatch.setattr(StepLogger, "log", log_then_stop_the_server_after_step_2)
    with mlflow_server(folder, str(folder / "artifacts"), {}) as (uri, server):
        summary = meta_train(["--config", "jobs/configs/meta_train/smoke.yaml", "--set", f"run_dir={run_dir}",
                              "--set", f"init_from={tiny_model}", "--set", "loop.log_every=1",
                              "--set", f"tracking.uri={uri}"])
    assert summary["step"] == 4 and (run_dir / "export" / "model.safetensors").is_file()  # the training finished
    err = capsys.readouterr().err
    assert err.count("[tracking] warning: the tracking server stopped answering") == 1
    kept = [json.loads(line) for line in (run_dir / OFFLINE).read_text().splitlines()]
    assert [k["step"] for k in kept] == [3, 4] and all(k["loss"] > 0 for k in kept)

    # the server's store has steps 1 and 2, the run directory the rest
    client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    run_id = json.loads((run_dir / "tracking.json").read_text())["run_id"]
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [1, 2]
    assert client.get_run(run_id).info.run_name == "meta"
