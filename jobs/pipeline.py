"""pipeline job: synth -> mslm -> scl -> meta -> finetune -> eval, each optional, then a report, in one run directory.

A config names the stages it wants; they always run in this order. Every stage writes under
``<run_dir>/<stage>`` (a folder or ``s3://`` prefix) and is handed its inputs explicitly: the
synthesis output is the corpus of pre-training and the synthetic data of fine-tuning; each training
stage starts from the encoder the one before it exported (the first from ``model``); fine-tuning
and eval take the last one.

- A task pipeline (the paper) names ``task``: synthesis explains and extends that task's own K-shot
  training set (in-task knowledge), and ``finetune`` trains on it plus the accepted synthetic
  instances, keeps the classifier (``finetune/classifier``, for ``tkre predict``) and scores the
  task's test split. ``baseline`` fine-tunes that encoder on the same split without synthetic data.
- A few-shot pipeline ends with an encoder for relations named at inference time (TKRE then
  ``meta`` is our best), scored by ``eval`` on unseen relations; ``baseline`` scores that encoder as is.

A rerun skips the stages that finished with the same settings and resumes the first one that did
not (``tkre/stages.py``). Everything is checked before any stage starts, every record of the task's
files included. Ends with ``report.md``, ``report.png`` and ``pipeline.json`` in ``run_dir``, and
one JSON line.

Usage: ``python -m jobs.pipeline --config jobs/configs/pipeline/semeval_k8.yaml [--set run_dir=s3://bucket/tkre/semeval]``
(= ``tkre pipeline ...``)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import sys
import time
from dataclasses import dataclass, field

from jobs import eval as eval_job
from jobs import finetune, meta_train, pretrain, synth
from tkre.config import (FieldError, blame, build_config, checked, config_data, config_yaml, job_arguments, positive,
                         within)
from tkre.data.datasets import check_kshot, data_dir, is_task_folder, load_kshot, unknown_kshot_dataset
from tkre.errors import ConfigError, EndpointError, UserError, user_errors
from tkre.eval.finetune import check_finetune
from tkre.launch.session import run_with_resources, stop_ray
from tkre.models.encoder import resolve_model
from tkre.report.pipeline import write_pipeline_report
from tkre.stages import Stage, config_hash, finished, run_stage
from tkre.storage import CONFIG, absolute, export_of, is_remote, join, open_storage
from tkre.synth.config import check_synth
from tkre.synth.endpoint import Endpoint
from tkre.tracking import TrackingSettings, job_run, open_tracking
from tkre.train.config import check_stage


@dataclass
class EvalResources:
    cpus: float = positive(2.0)
    gpus: float = 0.0


@dataclass
class TaskSettings:
    """The K-shot task of a task pipeline: one split (K, seed) of a dataset, or a task folder's own files."""

    dataset: str = checked(unknown_kshot_dataset, "semeval")  # a registered dataset or a folder holding task.yaml
    k_shot: int = positive(8)
    seed: int = 13


@dataclass
class PipelineConfig:
    run_dir: str = "runs/pipeline"  # a folder or s3://bucket/prefix
    data_dir: str | None = None
    model: str = "minilm"  # the encoder the first training stage starts from (the base model)
    # a task pipeline (the paper): synth explains and extends this task's K-shot training set, finetune trains on it
    task: TaskSettings | None = None
    # the stages, each optional, always in this order (STAGES); a section left out is not run
    synth: synth.Config | None = None
    mslm: pretrain.Config | None = None
    scl: pretrain.Config | None = None
    meta: meta_train.Config | None = None
    finetune: finetune.Config | None = None  # the task's K-shot training set plus the synthetic instances
    eval: eval_job.Config | None = None
    # the comparison: this encoder fine-tuned on the same split without synthetic data, and evaluated on the same episodes
    baseline: str | None = None
    # the Ray task that runs meta-training, fine-tuning or an evaluation on a cluster (RAY_ADDRESS); a local run uses this process
    eval_resources: EvalResources = field(default_factory=EvalResources)
    # MLflow: the pipeline is one run there, each stage that runs a run nested under it
    tracking: TrackingSettings = field(default_factory=TrackingSettings)


Config = PipelineConfig
STAGES = ("synth", "mslm", "scl", "meta", "finetune", "eval")
LOCATIONS = ("output", "run_dir", "corpus", "init_from", "model", "data_dir", "save", "synthetic", "tracking")  # not settings


class StageFailed(RuntimeError):
    """A stage that ended without what the next one needs; it stays unfinished, so a rerun resumes it."""


def synthesis(cfg: synth.Config) -> dict:
    """Runs synthesis; refuses to hand on a corpus the LLM wrote nothing of because every request failed."""
    summary = synth.run(cfg)
    if summary["failed_requests"] and not summary["done_requests"]:
        raise StageFailed(f"synth: all {summary['failed_requests']} LLM requests failed after their retries "
                          f"({summary['failed_by_reason']}); see {cfg.output}/manifest.json; rerun the same command to retry them")
    return summary


def evaluation(cfg: eval_job.Config) -> dict:
    return eval_job.summary_line(cfg, eval_job.run(cfg))


def fine_tuning(cfg: finetune.Config) -> dict:
    return finetune.summary_line(cfg, finetune.run(cfg))


def handed_over(cfg: Config) -> dict[str, list[str]]:
    """The keys of each section that the pipeline fills in (locations, and the task), which a config may not set."""
    corpus = ["corpus"] if cfg.synth else []  # without synth, pre-training reads the corpus its section names
    synthetic = ["synthetic"] if cfg.synth else []  # and fine-tuning the synthesis output its section names, if any
    task = ["support.dataset", "support.k_shot", "support.seed", "support.relations"] if cfg.task else []
    return {"synth": ["output", "data_dir", "tracking", *task],
            "mslm": ["run_dir", "init_from", "data_dir", "tracking", *corpus],
            "scl": ["run_dir", "init_from", "data_dir", "tracking", *corpus],
            "meta": ["run_dir", "init_from", "data_dir", "tracking"],
            "finetune": ["run_dir", "model", "data_dir", "save", "dataset", "k_shot", "seeds", "tracking", *synthetic],
            "eval": ["run_dir", "model", "data_dir", "tracking"]}


def plan(cfg: Config) -> list[Stage]:
    """The stages in order, each handed the latest encoder (and the synthesis output); every stage's hash
    covers the stages before it, a baseline's only its own settings."""
    handed, stages, after = handed_over(cfg), [], []
    encoder, corpus, resources = cfg.model, None, cfg.eval_resources

    def add(name, config, run, clear=False, baseline=False):
        locations = ["run_dir", "data_dir", "tracking"] if baseline else [k for k in handed[name] if k in LOCATIONS]
        stage = Stage(name, config, join(cfg.run_dir, name), config_hash(config, locations, [] if baseline else after),
                      run, clear)
        stages.append(stage)
        return stage

    on_cluster = lambda fn: lambda c: run_with_resources(fn, c, resources.cpus, resources.gpus)  # noqa: E731
    if cfg.synth:
        support = cfg.synth.support
        if cfg.task:  # in-task knowledge: the task's own K-shot training set, every relation of it
            support = dataclasses.replace(support, dataset=cfg.task.dataset, k_shot=cfg.task.k_shot,
                                          seed=cfg.task.seed, relations="all")
        corpus = join(cfg.run_dir, "synth")
        after.append(add("synth", dataclasses.replace(cfg.synth, output=corpus, data_dir=cfg.data_dir, support=support),
                         synthesis).hash)
    after.append(cfg.model)  # every later stage starts from it, or from what was trained from it
    for name in ("mslm", "scl"):
        section = getattr(cfg, name)
        if section:
            config = dataclasses.replace(section, run_dir=join(cfg.run_dir, name), corpus=corpus or section.corpus,
                                         init_from=encoder, data_dir=cfg.data_dir)
            after.append(add(name, config, functools.partial(pretrain.run, stage=name), clear=True).hash)
            encoder = export_of(config.run_dir)
    if cfg.meta:
        config = dataclasses.replace(cfg.meta, run_dir=join(cfg.run_dir, "meta"), init_from=encoder, data_dir=cfg.data_dir)
        after.append(add("meta", config, on_cluster(meta_train.run), clear=True).hash)
        encoder = export_of(config.run_dir)
    if cfg.finetune:
        task = cfg.task  # check() refuses finetune without it
        tuned = dataclasses.replace(cfg.finetune, run_dir=join(cfg.run_dir, "finetune"), model=encoder, data_dir=cfg.data_dir,
                                    dataset=task.dataset, k_shot=task.k_shot, seeds=[task.seed],
                                    save=join(cfg.run_dir, "finetune", "classifier"), synthetic=corpus or cfg.finetune.synthetic)
        add("finetune", tuned, on_cluster(fine_tuning))
    if cfg.eval:
        add("eval", dataclasses.replace(cfg.eval, run_dir=join(cfg.run_dir, "eval"), model=encoder, data_dir=cfg.data_dir),
            on_cluster(evaluation))
    if cfg.baseline and cfg.finetune:
        plain = dataclasses.replace(tuned, run_dir=join(cfg.run_dir, "baseline_finetune"), model=cfg.baseline,
                                    synthetic=None, save=None)
        add("baseline_finetune", plain, on_cluster(fine_tuning), baseline=True)
    if cfg.baseline and cfg.eval:
        plain = dataclasses.replace(cfg.eval, run_dir=join(cfg.run_dir, "baseline"), model=cfg.baseline,
                                    data_dir=cfg.data_dir)
        add("baseline", plain, on_cluster(evaluation), baseline=True)
    return stages


def has_key(data: dict, dotted: str) -> bool:
    head, _, rest = dotted.partition(".")
    return head in data and (not rest or (isinstance(data[head], dict) and has_key(data[head], rest)))


def check(cfg: Config, raw: dict) -> list[Stage]:
    """Everything that can be checked before work starts: settings, data, models, storage, the LLM endpoint."""
    for section, keys in handed_over(cfg).items():
        for key in keys:
            if has_key(raw.get(section) or {}, key):
                source = ("task" if key.startswith("support.") or key in ("dataset", "k_shot", "seeds")
                          else "the pipeline's own tracking section" if key == "tracking" else "run_dir and the stage before")
                raise FieldError(f"{section}.{key}", f"is handed over by the pipeline (from {source}); remove it")
    if not any(getattr(cfg, name) for name in STAGES):
        raise ConfigError(f"no stage to run: name at least one of {', '.join(STAGES)}")
    if cfg.finetune and not cfg.task:
        raise FieldError("finetune", "fine-tunes on the task's K-shot split: set task (dataset, k_shot, seed)")
    if cfg.scl and not cfg.mslm:
        raise FieldError("mslm", "missing: scl starts from the mslm export")
    if cfg.meta and is_remote(cfg.run_dir):
        raise FieldError("meta", "meta-training writes a local folder: set run_dir to a folder")
    open_storage(cfg.run_dir).check()
    stages = {s.name: s for s in plan(cfg)}
    for model in (cfg.model, cfg.baseline):
        if model:
            resolve_model(model)
    if cfg.task and is_task_folder(cfg.task.dataset):  # every record of a user's files: a bad one stops it here
        load_kshot(cfg.task.dataset, cfg.task.k_shot, cfg.task.seed, cfg.data_dir)
    if cfg.synth:
        with within("synth"):
            check_synth(stages["synth"].config)
        support = stages["synth"].config.support
        if not support.data:
            check_kshot(support.dataset, support.k_shot, support.seed, cfg.data_dir)
    for name in ("mslm", "scl"):
        if name in stages:
            with within(name):
                check_stage(stages[name].config, name)
    if cfg.meta:
        with within("meta"):
            meta_train.check_meta(stages["meta"].config)
    if cfg.finetune:
        with within("finetune"):
            check_finetune(stages["finetune"].config, cfg.data_dir, synthesis_ready=not cfg.synth)
    if cfg.eval:
        with within("eval"):
            eval_job.check(stages["eval"].config, model_ready=not any(getattr(cfg, s) for s in ("mslm", "scl", "meta")))
    if cfg.synth and not finished(stages["synth"]):
        try:
            Endpoint(cfg.synth.llm, contextlib.ExitStack()).check_reachable()
        except EndpointError as error:
            raise EndpointError(f"synth.{error}") from None
    return list(stages.values())


def load(path: str, overrides: list[str] = ()) -> tuple[Config, list[Stage]]:
    """The checked config and its stages; run_dir, data_dir and a task folder made absolute (Ray workers start elsewhere)."""
    raw = config_data(path, overrides)
    cfg = build_config(Config, raw, path, overrides)
    cfg.run_dir = absolute(cfg.run_dir)
    if cfg.task and is_task_folder(cfg.task.dataset):
        cfg.task.dataset = absolute(cfg.task.dataset)
    with contextlib.suppress(UserError):
        cfg.data_dir = str(data_dir(cfg.data_dir).resolve())
    try:
        return cfg, check(cfg, raw)
    except FieldError as error:
        raise blame(error, path, overrides) from None


def write_report(cfg: Config, stages: list[Stage], records: dict[str, dict]) -> str:
    """``report.md`` (stages, episodic and fine-tuning tables) and ``report.png`` in the run directory."""
    trained = [s.name for s in stages if s.name in ("mslm", "scl", "meta")]
    encoder = (f"TKRE ({' + '.join(trained)})" if cfg.mslm else f"{cfg.model}, meta-trained" if cfg.meta
               else f"{cfg.model} as is")
    labels = {"finetune": f"{encoder}, fine-tuned" + (" with synthetic data" if cfg.synth else ""),
              "baseline_finetune": f"{cfg.baseline}, plain fine-tuning", "eval": encoder,
              "baseline": f"{cfg.baseline} as is"}
    results = {}
    for s in stages:
        if s.name in labels:
            result = json.loads(open_storage(s.output).read_text("results.json"))
            results[labels[s.name]] = {"finetune": [result]} if "finetune" in s.name else result
    ep = cfg.eval.episodic if cfg.eval else None
    title = f"{ep.dataset} {ep.split}, {ep.episodes} episodes per setting" if ep else ""
    return write_pipeline_report(open_storage(cfg.run_dir), records, results, title)


def run(cfg: Config, stages: list[Stage]) -> dict:
    """Runs the checked stages in order, then the report; returns the summary. In MLflow the pipeline is one
    run (a rerun reopens it) and every stage that runs is a run nested under it; a skipped stage logs nothing."""
    start, working_dir = time.time(), os.getcwd()
    tracking = open_tracking(cfg.tracking)  # the last check: before anything is written
    state = open_storage(cfg.run_dir)
    state.write_text(CONFIG, config_yaml(cfg))
    records: dict[str, dict] = {}
    with job_run(tracking, "pipeline", cfg, record=state, tags={"tkre.run_dir": cfg.run_dir}) as parent:
        nested = dataclasses.replace(cfg.tracking, uri=tracking.uri, parent_run=parent.run_id,
                                     enabled=bool(parent.run_id and not parent.offline))
        for index, stage in enumerate(stages, 1):
            # In a Ray job, Ray re-extracts the job's working dir at the same path when workers with
            # another runtime env start on this node (ray#49313), deleting the one this process is in.
            os.chdir(working_dir)
            stage.config = dataclasses.replace(stage.config, tracking=dataclasses.replace(nested, run_name=stage.name))
            records[stage.name] = run_stage(stage, index, len(stages))
            state.write_text("pipeline.json", json.dumps({"run_dir": cfg.run_dir, "stages": records}, indent=2))
        report = write_report(cfg, stages, records)
        summary = {"run_dir": cfg.run_dir, "stages": {name: r["status"] for name, r in records.items()},
                   **{f"{name}/{k}": v for name in ("finetune", "baseline_finetune", "eval", "baseline") if name in records
                      for k, v in records[name]["summary"].items() if "/" in k},
                   "wall_s": round(time.time() - start, 1)}
        state.write_text("pipeline.json", json.dumps({"run_dir": cfg.run_dir, "stages": records, "summary": summary}, indent=2))
        parent.metrics(summary)
        parent.artifacts(state, ["report.md", "report.png", "pipeline.json", CONFIG])
    print(report)
    return summary


def main(argv: list[str] | None = None, prog: str = "python -m jobs.pipeline") -> dict:
    with user_errors(prog):
        args = job_arguments(__doc__.split("\n")[0], argv, prog)
        cfg, stages = load(args.config, args.set)
        try:
            summary = run(cfg, stages)
        except StageFailed as error:  # its stage stays unfinished: the same command resumes it
            print(f"{prog}: error: {error}", file=sys.stderr)
            raise SystemExit(1) from None
    stop_ray()
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
