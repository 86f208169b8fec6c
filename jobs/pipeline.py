"""pipeline job: synth -> mslm -> scl -> eval (and an optional baseline eval) -> report, in one run directory.

Every stage writes under ``<run_dir>/<stage>`` (a folder or ``s3://`` prefix) and is handed its
inputs explicitly: the synthesis output is the corpus of both pre-training stages, the MSLM export
is where SCL starts, the SCL export is the encoder evaluated. A rerun skips the stages that
finished with the same settings and resumes the first one that did not (``tkre/stages.py``).
Everything is checked before any stage starts. Ends with ``report.md``, ``report.png`` and
``pipeline.json`` in ``run_dir``, and one JSON line.

Usage: ``python -m jobs.pipeline --config jobs/configs/pipeline/demo.yaml [--set run_dir=s3://bucket/tkre/demo]``
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
from jobs import pretrain, synth
from tkre.config import FieldError, blame, build_config, config_data, config_yaml, job_arguments, positive, within
from tkre.data.datasets import check_kshot, data_dir
from tkre.errors import EndpointError, UserError, user_errors
from tkre.launch.session import run_with_resources, stop_ray
from tkre.models.encoder import resolve_model
from tkre.report.pipeline import write_pipeline_report
from tkre.stages import Stage, config_hash, finished, run_stage
from tkre.storage import CONFIG, absolute, export_of, join, open_storage
from tkre.synth.config import check_synth
from tkre.synth.endpoint import Endpoint
from tkre.train.config import check_stage


@dataclass
class EvalResources:
    cpus: float = positive(2.0)
    gpus: float = 0.0


@dataclass
class PipelineConfig:
    run_dir: str = "runs/pipeline"  # a folder or s3://bucket/prefix
    data_dir: str | None = None
    synth: synth.Config = field(default_factory=synth.Config)
    mslm: pretrain.Config = field(default_factory=pretrain.Config)
    scl: pretrain.Config = field(default_factory=pretrain.Config)
    eval: eval_job.Config = field(default_factory=eval_job.Config)
    baseline: str | None = None  # also evaluate this encoder (e.g. the one mslm starts from) on the same episodes
    # the Ray task that runs an evaluation on a cluster (RAY_ADDRESS); a local run evaluates in its own process
    eval_resources: EvalResources = field(default_factory=EvalResources)


Config = PipelineConfig

# Locations the pipeline hands from stage to stage; a config that sets them is refused.
HANDED_OVER = {"synth": ("output", "data_dir"), "mslm": ("run_dir", "corpus", "data_dir"),
               "scl": ("run_dir", "corpus", "init_from", "data_dir"), "eval": ("run_dir", "model", "data_dir")}


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


def plan(cfg: Config) -> list[Stage]:
    """The stages in order, each with its inputs taken from the stage before it."""
    out = {name: join(cfg.run_dir, name) for name in ("synth", "mslm", "scl", "eval", "baseline")}
    synth_cfg = dataclasses.replace(cfg.synth, output=out["synth"], data_dir=cfg.data_dir)
    mslm_cfg = dataclasses.replace(cfg.mslm, run_dir=out["mslm"], corpus=out["synth"], data_dir=cfg.data_dir)
    scl_cfg = dataclasses.replace(cfg.scl, run_dir=out["scl"], corpus=out["synth"], init_from=export_of(out["mslm"]),
                                  data_dir=cfg.data_dir)
    eval_cfg = dataclasses.replace(cfg.eval, run_dir=out["eval"], model=export_of(out["scl"]), data_dir=cfg.data_dir)
    h_synth = config_hash(synth_cfg, HANDED_OVER["synth"], [])
    h_mslm = config_hash(mslm_cfg, HANDED_OVER["mslm"], [h_synth])
    h_scl = config_hash(scl_cfg, HANDED_OVER["scl"], [h_synth, h_mslm])
    res = cfg.eval_resources
    evaluate = lambda c: run_with_resources(evaluation, c, res.cpus, res.gpus)  # noqa: E731
    stages = [Stage("synth", synth_cfg, out["synth"], h_synth, synthesis),
              Stage("mslm", mslm_cfg, out["mslm"], h_mslm, functools.partial(pretrain.run, stage="mslm"), clear=True),
              Stage("scl", scl_cfg, out["scl"], h_scl, functools.partial(pretrain.run, stage="scl"), clear=True),
              Stage("eval", eval_cfg, out["eval"], config_hash(eval_cfg, HANDED_OVER["eval"], [h_scl]), evaluate)]
    if cfg.baseline:
        baseline = dataclasses.replace(eval_cfg, run_dir=out["baseline"], model=cfg.baseline)
        stages.append(Stage("baseline", baseline, out["baseline"], config_hash(baseline, ("run_dir", "data_dir"), []), evaluate))
    return stages


def check(cfg: Config, raw: dict) -> list[Stage]:
    """Everything that can be checked before work starts: settings, data, models, storage, the LLM endpoint."""
    for stage, keys in HANDED_OVER.items():
        for key in keys:
            if key in (raw.get(stage) or {}):
                raise FieldError(f"{stage}.{key}", "is handed over by the pipeline (from run_dir and data_dir); remove it")
    open_storage(cfg.run_dir).check()
    stages = plan(cfg)
    with within("synth"):
        check_synth(stages[0].config)
    for stage in stages[1:3]:
        with within(stage.name):
            check_stage(stage.config, stage.name)
    check_kshot(cfg.synth.support.dataset, cfg.synth.support.k_shot, cfg.synth.support.seed, cfg.data_dir)
    for model in (cfg.mslm.init_from or "minilm", cfg.baseline):
        if model:
            resolve_model(model)
    with within("eval"):
        eval_job.check(stages[3].config, model_ready=False)
    if not finished(stages[0]):
        try:
            Endpoint(cfg.synth.llm, contextlib.ExitStack()).check_reachable()
        except EndpointError as error:
            raise EndpointError(f"synth.{error}") from None
    return stages


def load(path: str, overrides: list[str] = ()) -> tuple[Config, list[Stage]]:
    """The checked config and its stages; run_dir and data_dir made absolute (Ray workers start elsewhere)."""
    raw = config_data(path, overrides)
    cfg = build_config(Config, raw, path, overrides)
    cfg.run_dir = absolute(cfg.run_dir)
    with contextlib.suppress(UserError):
        cfg.data_dir = str(data_dir(cfg.data_dir).resolve())
    try:
        return cfg, check(cfg, raw)
    except FieldError as error:
        raise blame(error, path, overrides) from None


def write_report(cfg: Config, stages: list[Stage], records: dict[str, dict]) -> str:
    """``report.md`` (stages, episodic and fine-tuning tables) and ``report.png`` in the run directory."""
    labels = {"eval": "TKRE (mslm + scl)", "baseline": f"{cfg.baseline} as is"}
    results = {labels[s.name]: json.loads(open_storage(s.output).read_text("results.json"))
               for s in stages if s.name in labels}
    ep = cfg.eval.episodic
    title = f"{ep.dataset} {ep.split}, {ep.episodes} episodes per setting" if ep else ""
    return write_pipeline_report(open_storage(cfg.run_dir), records, results, title)


def run(cfg: Config, stages: list[Stage]) -> dict:
    """Runs the checked stages in order, then the report; returns the summary."""
    start, working_dir = time.time(), os.getcwd()
    state = open_storage(cfg.run_dir)
    state.write_text(CONFIG, config_yaml(cfg))
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
