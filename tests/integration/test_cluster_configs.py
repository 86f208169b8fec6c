"""The cluster configs: the `ray up` file through Ray's own schema, the runtime env through Ray's
RuntimeEnv, the KubeRay RayJob manifests for their required fields; all at the project's Ray version."""

import copy
import re
import shlex
from pathlib import Path

import pytest
import ray
import yaml

REPO = Path(__file__).resolve().parents[2]


def project_ray_pin() -> str:
    text = (REPO / "pyproject.toml").read_text()
    return re.search(r'"ray\[[^\]]*\]==([0-9.]+)"', text).group(1)


def test_the_project_pins_the_ray_it_runs_on():
    assert project_ray_pin() == ray.__version__


def test_ray_up_config_passes_rays_schema_with_an_idle_head_and_cpu_and_gpu_groups():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((REPO / "cluster/aws.yaml").read_text())
    validate_config(prepare_config(copy.deepcopy(config)))  # what `ray up` runs before it creates anything
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0, "GPU": 0}
    assert "--num-cpus=0" in " ".join(config["head_start_ray_commands"])
    assert types["cpu_synth"]["node_config"]["InstanceType"].startswith(("m", "c"))
    assert types["gpu_train"]["node_config"]["InstanceType"].startswith(("g", "p"))
    # nodes install this project, which pins the Ray version
    assert config["file_mounts"] == {"~/tkre": "."} and "pip install -q -e ~/tkre" in config["setup_commands"][0]

    broken = copy.deepcopy(config)
    broken["available_node_types"]["gpu_train"]["max_worker"] = 2
    with pytest.raises(Exception, match="max_worker"):
        validate_config(prepare_config(broken))


def test_runtime_env_is_a_ray_runtime_env_without_secrets():
    from ray.runtime_env import RuntimeEnv

    text = (REPO / "cluster/runtime_env.yaml").read_text()
    env = RuntimeEnv(**yaml.safe_load(text))
    assert env["working_dir"] == "." and ".venv/" in env["excludes"] and "runs/" in env["excludes"]
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"(?i)secret|password|access_key|api_key", body)


@pytest.mark.parametrize("path", ["cluster/runtime_env.yaml", "cluster/kuberay/rayjob-pipeline.yaml"])
def test_cluster_jobs_get_the_ray_train_settings_a_local_runtime_gets(path):
    from tkre.launch.session import RUNTIME_ENV_VARS

    config = yaml.safe_load((REPO / path).read_text())
    env_vars = (yaml.safe_load(config["spec"]["runtimeEnvYAML"]) if "spec" in config else config)["env_vars"]
    assert RUNTIME_ENV_VARS.items() <= env_vars.items()


@pytest.mark.parametrize("path", sorted((REPO / "cluster/kuberay").glob("rayjob-*.yaml")), ids=lambda p: p.name)
def test_rayjob_manifests_have_what_kuberay_requires(path):
    job = yaml.safe_load(path.read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob" and job["metadata"]["name"]
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] >= 0
    yaml.safe_load(spec["runtimeEnvYAML"])
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == ray.__version__
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"  # the head runs no training work
    containers = [head["template"]["spec"]["containers"][0]]
    groups = cluster["workerGroupSpecs"]
    assert groups and all({"groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams"} <= set(g) for g in groups)
    assert any("nvidia.com/gpu" in g["template"]["spec"]["containers"][0]["resources"]["limits"] for g in groups)
    containers += [g["template"]["spec"]["containers"][0] for g in groups]
    assert all(c["name"] and c["image"] for c in containers)
    for variable in (e for c in containers for e in c.get("env", [])):  # secrets come from Kubernetes Secrets
        assert "valueFrom" in variable or not re.search(r"(?i)key|secret|password|token", variable["name"])
    # the entrypoint is a job of this project with arguments its parser accepts, and files that exist
    words = shlex.split(spec["entrypoint"])
    assert words[:2] == ["python", "-m"] and (REPO / (words[2].replace(".", "/") + ".py")).is_file()
    for flag in ("--space", "--config"):
        if flag in words:
            assert (REPO / words[words.index(flag) + 1]).is_file()
    base = (REPO / "cluster/Dockerfile").read_text()
    assert f"FROM rayproject/ray:{ray.__version__}-" in base


def test_the_paper_scale_pipeline_config_passes_every_check_of_the_pipeline(tmp_path, monkeypatch):
    from jobs.pipeline import load
    from tkre.testing import FaultServer

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # roberta-large comes from the hub on a cluster
    with FaultServer(lambda messages: "{}") as endpoint:  # stands in for the hosted LLM: reachable
        cfg, stages = load("jobs/configs/pipeline/roberta_large_gpu.yaml",
                           [f"run_dir={tmp_path}", f"synth.llm.base_url={endpoint.base_url}"])
    assert [s.name for s in stages] == ["synth", "mslm", "scl", "eval", "baseline"]
    for stage in (cfg.mslm, cfg.scl):
        assert (stage.engine.kind, stage.engine.zero_stage, stage.engine.bf16) == ("deepspeed", 2, True)
        assert (stage.workers.num_workers, stage.workers.use_gpu) == (8, True)
    assert cfg.model == cfg.baseline == "roberta-large" and cfg.eval_resources.gpus == 1
    assert cfg.synth.llm.api_key_env == "OPENAI_API_KEY" and cfg.scl.scl.temperature == 0.1
    assert not list(tmp_path.iterdir())  # checking wrote nothing


def test_the_paper_scale_task_pipeline_config_passes_every_check_of_the_pipeline(tmp_path, monkeypatch):
    from jobs.pipeline import load
    from tkre.testing import FaultServer

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with FaultServer(lambda messages: "{}") as endpoint:
        cfg, stages = load("jobs/configs/pipeline/semeval_k8_roberta_large_gpu.yaml",
                           [f"run_dir={tmp_path}", f"synth.llm.base_url={endpoint.base_url}"])
    assert [s.name for s in stages] == ["synth", "mslm", "scl", "finetune", "baseline_finetune"]
    tuned = stages[3].config
    assert (tuned.dataset, tuned.k_shot, tuned.seeds, tuned.synthetic_per_relation) == ("semeval", 8, [13], 8)
    assert (tuned.train.batch_size, tuned.train.lr, tuned.train.epochs) == (4, 3e-5, 10)  # the reference's run_roberta.sh
    assert stages[4].config.model == "roberta-large" and stages[4].config.synthetic is None
    assert cfg.synth.edkg.explain_per_relation == 6 and cfg.eval_resources.gpus == 1
    assert not list(tmp_path.iterdir())


def test_the_gpu_batch_prediction_config_parses_as_the_predict_job_reads_it():
    from jobs.predict import load

    cfg = load(["--config", "jobs/configs/predict/batch_gpu.yaml"], "tkre predict")
    assert cfg.batch.use_gpu and cfg.batch.actors == 4 and cfg.input.startswith("s3://") and cfg.output_format == "parquet"
