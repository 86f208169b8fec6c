"""pipeline job: synth -> mslm -> scl -> eval (and an optional baseline eval) -> report, in one run directory.

Every stage writes under ``<run_dir>/<stage>`` (a folder or ``s3://`` prefix) and is handed its
inputs explicitly: the synthesis output is the corpus of both pre-training stages, the MSLM export
is where SCL starts, the SCL export is the encoder evaluated. A stage records its config hash in
``<stage>/stage.json``: a rerun skips the stages that finished with the same hash and resumes the
first one that did not (synthesis from its records, training from its last checkpoint). A stage
whose settings (or an earlier stage's) changed runs again; a training stage first clears its
folder, so no checkpoint of another config is resumed. Everything is checked before any stage
starts. Ends with ``report.md``, ``report.png`` and ``pipeline.json`` in ``run_dir``.

Usage: ``python -m jobs.pipeline --config jobs/configs/pipeline/demo.yaml [--set run_dir=s3://bucket/tkre/demo]``
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from jobs.eval import EvalJobConfig, evaluate, parse_setting, summary_line
from jobs.pretrain import PretrainJobConfig, check_stage, pretrain
from jobs.synthesize import Endpoint, SynthJobConfig, synthesize
from tkre.config import ConfigError, config_data, config_yaml, from_dict, job_arguments
from tkre.data.datasets import data_dir, load_kshot, load_split
from tkre.models.encoder import resolve_model
from tkre.eval.report import pipeline_report, plot_episodic
from tkre.storage import delete_folder, open_storage


@dataclass
class EvalResources:
    cpus: float = 2.0
    gpus: float = 0.0


@dataclass
class PipelineConfig:
    run_dir: str = "runs/pipeline"  # a folder or s3://bucket/prefix
    data_dir: str | None = None
    synth: SynthJobConfig = field(default_factory=SynthJobConfig)
    mslm: PretrainJobConfig = field(default_factory=PretrainJobConfig)
    scl: PretrainJobConfig = field(default_factory=PretrainJobConfig)
    eval: EvalJobConfig = field(default_factory=EvalJobConfig)
    baseline: str | None = None  # also evaluate this encoder (e.g. the one mslm starts from) on the same episodes
    eval_resources: EvalResources = field(default_factory=EvalResources)  # the Ray task that runs an evaluation


# Locations the pipeline hands from stage to stage; a config that sets them is refused.
HANDED_OVER = {"synth": ("output", "data_dir"), "mslm": ("run_dir", "corpus", "data_dir"),
               "scl": ("run_dir", "corpus", "init_from", "data_dir"), "eval": ("run_dir", "model", "data_dir")}
TRAINING = ("mslm", "scl")


@dataclass
class Stage:
    name: str
    config: Any  # the stage job's config with its inputs and output filled in
    output: str  # the stage's folder or s3:// prefix
    hash: str
    run: Callable[[Any], dict]


def config_hash(cfg: Any, handed_over: tuple[str, ...], upstream: list[str]) -> str:
    """A digest of the stage's own settings (not the locations handed to it) and of the stages before it."""
    own = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in handed_over}
    text = json.dumps({"config": own, "after": upstream}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan(cfg: PipelineConfig) -> list[Stage]:
    """The stages in order, each with its inputs taken from the stage before it."""
    def at(stage: str) -> str:
        return f"{cfg.run_dir.rstrip('/')}/{stage}"

    synth = dataclasses.replace(cfg.synth, output=at("synth"), data_dir=cfg.data_dir)
    mslm = dataclasses.replace(cfg.mslm, run_dir=at("mslm"), corpus=synth.output, data_dir=cfg.data_dir)
    scl = dataclasses.replace(cfg.scl, run_dir=at("scl"), corpus=synth.output, init_from=f"{mslm.run_dir}/export",
                              data_dir=cfg.data_dir)
    evaluation = dataclasses.replace(cfg.eval, run_dir=at("eval"), model=f"{scl.run_dir}/export", data_dir=cfg.data_dir)
    h_synth = config_hash(synth, HANDED_OVER["synth"], [])
    h_mslm = config_hash(mslm, HANDED_OVER["mslm"], [h_synth])
    h_scl = config_hash(scl, HANDED_OVER["scl"], [h_synth, h_mslm])
    run_eval = remote_eval(cfg.eval_resources)
    stages = [Stage("synth", synth, synth.output, h_synth, synthesis_summary),
              Stage("mslm", mslm, mslm.run_dir, h_mslm, lambda c: pretrain(c, "mslm")),
              Stage("scl", scl, scl.run_dir, h_scl, lambda c: pretrain(c, "scl")),
              Stage("eval", evaluation, evaluation.run_dir, config_hash(evaluation, HANDED_OVER["eval"], [h_scl]), run_eval)]
    if cfg.baseline:
        baseline = dataclasses.replace(evaluation, run_dir=at("baseline"), model=cfg.baseline)
        stages.append(Stage("baseline", baseline, baseline.run_dir,
                            config_hash(baseline, ("run_dir", "data_dir"), []), run_eval))
    return stages


class StageFailed(RuntimeError):
    """A stage that ended without what the next one needs; it stays unfinished, so a rerun resumes it."""


def synthesis_summary(cfg: SynthJobConfig) -> dict:
    """Runs synthesis; refuses to hand on a corpus the LLM wrote nothing of because every request failed."""
    manifest = synthesize(cfg)
    requests = [manifest["requests"][kind] for kind in ("edkg", "scdg")]
    failed = sum(r["failed"] for r in requests)
    if failed and not sum(r["done"] for r in requests):
        reasons = Counter()
        for r in requests:
            reasons.update(r["failed_by_reason"])
        raise StageFailed(f"synth: all {failed} LLM requests failed after their retries ({dict(reasons)}); "
                          f"see {cfg.output}/manifest.json; rerun the same command to retry them")
    return {"explanations": manifest["explanations"]["accepted"], "synthetic": manifest["synthetic"]["accepted"],
            "acceptance_rate": manifest["synthetic"]["acceptance_rate"], "tokens_out": manifest["tokens_out"],
            "failed_requests": failed, "stopped_by": manifest["budget"]["stopped_by"]}


def remote_eval(resources: EvalResources) -> Callable[[EvalJobConfig], dict]:
    """Runs ``jobs.eval.evaluate`` as a Ray task with ``resources`` (a GPU node on a cluster), returns its summary."""
    def run(cfg: EvalJobConfig) -> dict:
        import ray

        if not ray.is_initialized():
            ray.init(logging_level="warning")  # joins RAY_ADDRESS when set
        task = ray.remote(num_cpus=resources.cpus, num_gpus=resources.gpus)(lambda c: summary_line(c, evaluate(c)))
        return ray.get(task.remote(cfg))
    return run


def check(cfg: PipelineConfig, raw: dict, path: str) -> list[Stage]:
    """Everything that can be checked before work starts: settings, data, models, storage, the LLM endpoint."""
    def fail(message: str):
        raise ConfigError(f"{path}: {message}")

    for stage, keys in HANDED_OVER.items():
        for key in keys:
            if key in (raw.get(stage) or {}):
                fail(f"{stage}.{key} is handed over by the pipeline (from run_dir and data_dir); remove it")
    positive = ["synth.workers.actors", "synth.workers.in_flight", "synth.llm.timeout_s", "synth.llm.max_attempts",
                "eval.episodic.episodes", "eval.episodic.n_query", "eval_resources.cpus"]
    for stage in TRAINING:
        positive += [f"{stage}.{key}" for key in ("max_length", "loop.max_steps", "loop.batch_size",
                                                   "loop.checkpoint_every", "loop.log_every", "engine.lr",
                                                   "workers.num_workers", "workers.cpus_per_worker")]
    positive.append("scl.scl.temperature")
    for key in positive:
        value = cfg
        for part in key.split("."):
            value = getattr(value, part) if value is not None else None
        if value is not None and not value > 0:
            fail(f"{key} must be > 0, got {value!r}")
    stages = plan(cfg)
    for stage in stages:
        if stage.name in TRAINING:
            try:
                check_stage(stage.config, stage.name)
            except ValueError as error:
                fail(f"{stage.name}: {error}")
    try:
        root = data_dir(cfg.data_dir)
        load_kshot(cfg.synth.support.dataset, cfg.synth.support.k_shot, cfg.synth.support.seed, root)
        for run in cfg.eval.finetune:
            for seed in run.seeds:
                load_kshot(run.dataset, run.k_shot, seed, root)
        for model in (cfg.mslm.init_from or "minilm", cfg.baseline):
            if model and model_missing(model):
                raise FileNotFoundError(f"model {model!r}: no such folder (and not in the cache of the offline hub)")
        if cfg.eval.episodic:
            check_episodes(cfg.eval, root)
    except (ValueError, FileNotFoundError, ModuleNotFoundError) as error:
        fail(str(error))
    try:
        open_storage(cfg.run_dir).check()
    except Exception as error:  # noqa: BLE001 - boto3 and OS errors alike: the storage cannot be used
        fail(f"run_dir {cfg.run_dir}: cannot reach it ({error})")
    if cfg.synth.llm.base_url is None and cfg.synth.llm.model != "smollm2":
        fail("synth.llm.base_url is null: the embedded server runs model smollm2 only")
    if not finished(stages[0]):
        try:
            Endpoint(cfg.synth.llm, contextlib.ExitStack()).check_reachable()
        except ConnectionError as error:
            fail(f"synth.{error}")
    return stages


def model_missing(model: str) -> bool:
    """A local folder that does not exist, or a hub name that cannot be had: the hub is offline and it is not cached."""
    from huggingface_hub import try_to_load_from_cache

    if "://" in model or os.path.exists(resolve_model(model)):
        return False
    if os.path.sep in model or model.startswith("."):
        return True
    return os.environ.get("HF_HUB_OFFLINE") == "1" and not isinstance(try_to_load_from_cache(model, "config.json"), str)


def check_episodes(cfg: EvalJobConfig, root) -> None:
    """Every N-K setting fits the evaluation split: N relations with K + Q sentences each."""
    from tkre.data.datasets import limit_per_relation

    ep = cfg.episodic
    instances = limit_per_relation(load_split(ep.dataset, ep.split, root), ep.limit_per_relation)
    sizes: dict[str, int] = {}
    for inst in instances:
        sizes[inst.relation] = sizes.get(inst.relation, 0) + 1
    for setting in ep.settings:
        n_way, k_shot = parse_setting(setting)
        usable = sum(1 for n in sizes.values() if n >= k_shot + ep.n_query)
        if n_way > usable:
            raise ValueError(f"eval.episodic.settings {setting}: {ep.dataset} {ep.split} has {usable} relations "
                             f"with {k_shot} + {ep.n_query} sentences, fewer than {n_way}")


def stage_record(stage: Stage) -> dict | None:
    store = open_storage(stage.output)
    return json.loads(store.read_text("stage.json")) if store.exists("stage.json") else None


def finished(stage: Stage) -> bool:
    record = stage_record(stage)
    return bool(record and record["hash"] == stage.hash and record["complete"])


def run_stage(stage: Stage, index: int, total: int) -> dict:
    """Skips, resumes or (re)runs one stage; returns its record."""
    record = stage_record(stage)
    tag = f"[pipeline] {index}/{total} {stage.name}"
    if record and record["hash"] == stage.hash and record["complete"]:
        print(f"{tag}: done before with the same config ({stage.hash}), skipped", file=sys.stderr)
        return {**record, "status": "skipped"}
    if record and record["hash"] != stage.hash:
        print(f"{tag}: {stage.output} holds a run of other settings ({record['hash']}); running again", file=sys.stderr)
        if stage.name in TRAINING:
            delete_folder(stage.output)
    elif record:
        print(f"{tag}: resuming the unfinished run in {stage.output}", file=sys.stderr)
    else:
        print(f"{tag}: running into {stage.output}", file=sys.stderr)
    store = open_storage(stage.output)
    store.write_text("stage.json", json.dumps({"stage": stage.name, "hash": stage.hash, "complete": False}))
    start = time.time()
    summary = stage.run(stage.config)
    record = {"stage": stage.name, "hash": stage.hash, "complete": True, "output": stage.output,
              "summary": summary, "wall_s": round(time.time() - start, 1)}
    store.write_text("stage.json", json.dumps(record, indent=2))
    return {**record, "status": "ran"}


def write_report(cfg: PipelineConfig, stages: list[Stage], records: dict[str, dict]) -> str:
    """``report.md`` (stages, episodic and fine-tuning tables) and ``report.png`` in the run directory."""
    import tempfile

    labels = {"eval": "TKRE (mslm + scl)", "baseline": f"{cfg.baseline} as is"}
    results = {labels[s.name]: json.loads(open_storage(s.output).read_text("results.json"))
               for s in stages if s.name in labels}
    report, episodic = pipeline_report(cfg.run_dir, records, results)
    state = open_storage(cfg.run_dir)
    state.write_text("report.md", report + "\n")
    if episodic:
        ep = cfg.eval.episodic
        with tempfile.TemporaryDirectory() as scratch:
            png = os.path.join(scratch, "report.png")
            plot_episodic(episodic, png, f"{ep.dataset} {ep.split}, {ep.episodes} episodes per setting")
            with open(png, "rb") as f:
                state.write_bytes("report.png", f.read())
    return report


def run_pipeline(cfg: PipelineConfig, stages: list[Stage]) -> dict:
    start, working_dir = time.time(), os.getcwd()
    state = open_storage(cfg.run_dir)
    state.write_text("config.yaml", config_yaml(cfg))
    records: dict[str, dict] = {}
    for index, stage in enumerate(stages, 1):
        # In a Ray job, Ray re-extracts the job's working dir at the same path when workers with
        # another runtime env start on this node (ray#49313), deleting the one this process is in.
        os.chdir(working_dir)
        records[stage.name] = run_stage(stage, index, len(stages))
        state.write_text("pipeline.json", json.dumps({"run_dir": cfg.run_dir, "stages": records}, indent=2))
    report = write_report(cfg, stages, records)
    summary = {"run_dir": cfg.run_dir, "stages": {name: r["status"] for name, r in records.items()},
               **{f"{name}/{k}": v for name in ("eval", "baseline") if name in records
                  for k, v in records[name]["summary"].items() if "/" in k},
               "wall_s": round(time.time() - start, 1)}
    state.write_text("pipeline.json", json.dumps({"run_dir": cfg.run_dir, "stages": records, "summary": summary}, indent=2))
    print(report)
    return summary


def load(path: str, overrides: list[str]) -> tuple[PipelineConfig, list[Stage]]:
    """The checked config and its stages; run_dir and data_dir made absolute (Ray workers start elsewhere)."""
    raw = config_data(path, overrides)
    try:
        cfg = from_dict(PipelineConfig, raw)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    if "://" not in cfg.run_dir:
        cfg.run_dir = os.path.abspath(os.path.expanduser(cfg.run_dir))
    with contextlib.suppress(FileNotFoundError):
        cfg.data_dir = str(data_dir(cfg.data_dir).resolve())
    return cfg, check(cfg, raw, path)


def run(cfg: PipelineConfig, stages: list[Stage]) -> dict:
    """Runs the checked stages, then stops Ray so its worker logs end before the summary line."""
    import ray

    summary = run_pipeline(cfg, stages)
    if ray.is_initialized():
        ray.shutdown()
    return summary


def main(argv: list[str] | None = None) -> dict:
    args = job_arguments(__doc__.split("\n")[0], argv)
    try:
        cfg, stages = load(args.config, args.set)
    except (ConfigError, FileNotFoundError) as error:  # before any stage started
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        summary = run(cfg, stages)
    except StageFailed as error:  # its stage stays unfinished: the same command resumes it
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
