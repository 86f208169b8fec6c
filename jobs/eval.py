"""eval job: episodic evaluation on unseen relations and K-shot fine-tuning of one encoder.

Episodic: N-way K-shot episodes (seeded, or replayed from ``episodic.episodes_from``, the
``episodes/`` folder of an earlier run), scored by prototypes for every pooling, with optional
none-of-the-above queries (``na_rate``, ``nota_threshold``). Fine-tuning: the paper's K-shot
protocol over seeds. Writes ``config.yaml``, the frozen episodes, ``results.json``, ``results.md``
and ``episodic.png`` to ``run_dir`` (a folder or ``s3://`` prefix; ``model`` may be an ``s3://``
export too), prints the tables, and ends with one JSON line.

Usage: ``python -m jobs.eval --config jobs/configs/eval/smoke.yaml [--set episodic.episodes=100]`` (= ``tkre eval ...``);
``--data FILE`` evaluates on your own FewRel-, TACRED- or SemEval-format file or records (= ``--set episodic.data=FILE``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tkre.config import FieldError, config_yaml, data_arguments, load_config
from tkre.data.datasets import limit_per_relation, load_split, relation_schemas, task_label
from tkre.data.episodes import load_episodes, sample_episodes, save_episodes
from tkre.data.records import read_data_file
from tkre.data.schemas import Schemas
from tkre.data.splits import validation_relations
from tkre.errors import user_errors
from tkre.eval.config import EpisodicConfig, EvalConfig, parse_setting
from tkre.eval.episodic import evaluate_episode_sets
from tkre.eval.finetune import check_finetune, run_finetune
from tkre.models.encoder import RelationEncoder, default_device, resolve_model
from tkre.report.tables import episodic_table, finetune_table, plot_episodic
from tkre.storage import CONFIG, is_remote, join, local_copy, open_storage, staged
from tkre.tracking import job_run, open_tracking

Config = EvalConfig


def check_eval(cfg: Config) -> None:
    if cfg.episodic is None and not cfg.finetune:
        raise FieldError("episodic", "nothing to evaluate: set episodic or finetune")
    ep = cfg.episodic
    if ep is None:
        return
    zero_shot = [s for s in ep.settings if parse_setting(s)[1] == 0]
    if zero_shot and ep.descriptions == "none":
        raise FieldError("episodic.descriptions", f"0-shot settings {', '.join(zero_shot)} score by descriptions: set add or only")
    if ep.relations == "validation" and ep.dataset != "wiki80":
        raise FieldError("episodic.relations", f"the validation relations are Wiki80's, not {ep.dataset}'s")


def load(path: str, overrides: list[str] = ()) -> Config:
    return load_config(Config, path, overrides, check=check_eval)


def episode_file(ep: EpisodicConfig, setting: str) -> str:
    n_way, k_shot = parse_setting(setting)
    name = Path(ep.data).stem if ep.data else f"{ep.dataset}_{ep.split}"
    return f"{name}_{n_way}w{k_shot}s.jsonl"


def sample_or_replay(cfg: Config) -> tuple[list, dict[str, list]]:
    """The evaluation instances and every setting's episodes: seeded samples, or the frozen ones in ``episodes_from``."""
    ep = cfg.episodic
    data = read_data_file(ep.data, ep.data_format) if ep.data else load_split(ep.dataset, ep.split, cfg.data_dir)
    instances = limit_per_relation(data, ep.limit_per_relation)
    if ep.relations == "validation":
        keep = set(validation_relations(ep, cfg.data_dir))
        instances = [x for x in instances if x.relation in keep]
    episode_sets = {}
    for setting in ep.settings:
        n_way, k_shot = parse_setting(setting)
        try:
            if ep.episodes_from:
                episode_sets[setting] = load_episodes(join(ep.episodes_from, episode_file(ep, setting)), instances)
            else:
                episode_sets[setting] = sample_episodes(instances, n_way, k_shot, ep.n_query, ep.episodes, ep.seed,
                                                        ep.na_rate)
        except (ValueError, FileNotFoundError) as error:
            raise FieldError("episodic.settings", f"{setting} on {ep.dataset} {ep.split}: {error}") from None
    return instances, episode_sets


def schemas_of(ep: EpisodicConfig, instances: list, data_dir: str | None) -> Schemas:
    """The relation schemas of the evaluation data, from ``ep.schema`` or the dataset's own source."""
    return relation_schemas({x.relation for x in instances}, ep.schema or ep.dataset, data_dir)


def score_episodes(ep: EpisodicConfig, model: str, instances: list, episode_sets: dict,
                   schemas: Schemas | None = None) -> dict[str, dict[str, dict]]:
    """Accuracy per pooling and setting; each pooling encodes every instance (and description) once."""
    texts = {r: s.text for r, s in schemas.items()} if schemas is not None and ep.descriptions != "none" else None
    results = {}
    for scoring in ep.scorings():
        print(f"[eval] episodic {ep.dataset} {ep.split}, pooling {scoring.pooling}, metric {scoring.metric}, "
              f"descriptions {scoring.descriptions}", file=sys.stderr)
        encoder = RelationEncoder(model, scoring.pooling, scoring.typed_markers, scoring.max_length).to(default_device())
        results[scoring.pooling] = evaluate_episode_sets(encoder, instances, episode_sets, scoring, texts, ep.batch_size)
    return results


def check(cfg: Config, model_ready: bool = True) -> tuple[list, dict[str, list], Schemas | None]:
    """What can fail before anything is written: the model and synthesis outputs (unless earlier stages
    make them), storage, data, episodes, the schema file. Returns the instances, the episodes and the
    relation schemas."""
    if model_ready and not is_remote(cfg.model):
        resolve_model(cfg.model)
    open_storage(cfg.run_dir).check()
    for ft in cfg.finetune:
        if ft.save:
            open_storage(ft.save).check()
        check_finetune(ft, cfg.data_dir, synthesis_ready=model_ready)
    if not cfg.episodic:
        return [], {}, None
    instances, episode_sets = sample_or_replay(cfg)
    return instances, episode_sets, schemas_of(cfg.episodic, instances, cfg.data_dir)


def run(cfg: Config) -> dict:
    """Evaluates ``cfg.model`` into ``cfg.run_dir``; returns the results (``report``: the Markdown tables),
    logged to the job's MLflow run under the summary line's keys."""
    tracking = open_tracking(cfg.tracking)
    instances, episode_sets, schemas = check(cfg)
    with job_run(tracking, "eval", cfg) as tracked:
        results = evaluate(cfg, instances, episode_sets, schemas)
        tracked.metrics(summary_line(cfg, results))
        tracked.artifacts(open_storage(cfg.run_dir), ["results.md", "results.json", "episodic.png", CONFIG])
    return results


def evaluate(cfg: Config, instances: list, episode_sets: dict, schemas: Schemas | None) -> dict:
    """The checked evaluation: episodes, then fine-tuning, into ``cfg.run_dir``."""
    start = time.perf_counter()
    with local_copy(cfg.model) as model, staged(cfg.run_dir) as out:
        (out / CONFIG).write_text(config_yaml(cfg))
        results: dict = {"model": cfg.model}
        sections = []
        if cfg.episodic:
            for setting, episodes in episode_sets.items():
                save_episodes(out / "episodes" / episode_file(cfg.episodic, setting), episodes)
            results["episodic"] = score_episodes(cfg.episodic, model, instances, episode_sets, schemas)
            results["schema"] = schemas.summary()
            title = f"{cfg.model} on {cfg.episodic.dataset} {cfg.episodic.split}, {cfg.episodic.episodes} episodes"
            (out / "episodic.png").write_bytes(plot_episodic(results["episodic"], title))
            sections.append(f"## Episodic ({title}, accuracy %, 95% interval)\n\n{episodic_table(results['episodic'])}")
        if cfg.finetune:
            results["finetune"] = []
            for ft in cfg.finetune:
                print(f"[eval] fine-tune {ft.dataset} K={ft.k_shot} seeds {ft.seeds}", file=sys.stderr)
                result = run_finetune(ft, model, cfg.data_dir)
                results["finetune"].append({**result, "model": cfg.model, "config": {**result["config"], "model": cfg.model}})
            sections.append(f"## K-shot fine-tuning ({cfg.model})\n\n{finetune_table(results['finetune'])}")
        results["total_seconds"] = time.perf_counter() - start
        results["report"] = "\n\n".join(sections)
        (out / "results.md").write_text(results["report"] + "\n")
        (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


def summary_line(cfg: Config, results: dict) -> dict:
    """The flat one-line summary: accuracy per split, setting and pooling; fine-tuning F1 per dataset and K."""
    summary = {"run_dir": cfg.run_dir, "total_seconds": results["total_seconds"]}
    for pooling, by_setting in results.get("episodic", {}).items():
        for setting, r in by_setting.items():
            summary[f"{cfg.episodic.split}/acc_{setting.replace('-', 'w')}s/{pooling}"] = r["accuracy"]
    for r in results.get("finetune", []):
        summary[f"test/f1_{task_label(r['dataset'], r['k_shot'])}"] = r["test_f1_mean"]
    return summary


def main(argv: list[str] | None = None, prog: str = "python -m jobs.eval") -> dict:
    with user_errors(prog):
        args = data_arguments(__doc__.split("\n")[0], argv, prog, "episodic.data")
        cfg = load(args.config, args.set)
        results = run(cfg)
    print(results["report"])
    summary = summary_line(cfg, results)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
