"""eval job: episodic evaluation on unseen relations and K-shot fine-tuning of one encoder.

Writes ``config.yaml``, the frozen episodes, ``results.json``, ``results.md`` and
``episodic.png`` to ``run_dir`` (a folder or ``s3://`` prefix; ``model`` may be an ``s3://``
export too), prints the tables, and ends with one JSON line.

Usage: ``python -m jobs.eval --config jobs/configs/eval/smoke.yaml [--set episodic.episodes=100]``
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tkre.config import job_arguments, load_config, save_config
from tkre.data.datasets import limit_per_relation, load_split
from tkre.data.episodes import sample_episodes, save_episodes
from tkre.eval.episodic import evaluate_episode_sets
from tkre.eval.finetune import FinetuneConfig, finetune_seeds
from tkre.eval.report import episodic_table, finetune_table, plot_episodic
from tkre.models.encoder import RelationEncoder, default_device
from tkre.storage import download_folder, upload_folder


@dataclass
class EpisodicConfig:
    dataset: str = "fewrel"
    split: str = "val"
    settings: list[str] = field(default_factory=lambda: ["5-1", "5-5", "10-1", "10-5"])  # N-K
    episodes: int = 1000
    n_query: int = 5
    seed: int = 0
    poolings: list[str] = field(default_factory=lambda: ["marker", "entity", "mean"])
    metric: str = "euclidean"
    batch_size: int = 64
    limit_per_relation: int | None = None


@dataclass
class FinetuneRun:
    dataset: str = "wiki80"
    k_shot: int = 8
    seeds: list[int] = field(default_factory=lambda: [13, 21, 42, 87, 100])
    limit_per_relation: int | None = None  # of dev and test, for quick runs
    train: FinetuneConfig = field(default_factory=FinetuneConfig)


@dataclass
class EvalJobConfig:
    run_dir: str = "runs/eval"
    model: str = "minilm"
    data_dir: str | None = None
    episodic: EpisodicConfig | None = field(default_factory=EpisodicConfig)
    finetune: list[FinetuneRun] = field(default_factory=list)


def parse_setting(setting: str) -> tuple[int, int]:
    n_way, _, k_shot = setting.partition("-")
    if not (n_way.isdigit() and k_shot.isdigit()):
        raise ValueError(f"episodic setting {setting!r}: expected N-K such as 5-1")
    return int(n_way), int(k_shot)


def run_episodic(cfg: EvalJobConfig, run_dir: Path, model: str) -> dict[str, dict[str, dict]]:
    ep = cfg.episodic
    instances = limit_per_relation(load_split(ep.dataset, ep.split, cfg.data_dir), ep.limit_per_relation)
    episode_sets = {}
    for setting in ep.settings:
        n_way, k_shot = parse_setting(setting)
        episode_sets[setting] = sample_episodes(instances, n_way, k_shot, ep.n_query, ep.episodes, ep.seed)
        save_episodes(run_dir / "episodes" / f"{ep.dataset}_{ep.split}_{n_way}w{k_shot}s.jsonl", episode_sets[setting])
    results = {}
    for pooling in ep.poolings:
        print(f"[eval] episodic {ep.dataset} {ep.split}, pooling {pooling}", file=sys.stderr)
        encoder = RelationEncoder(model, pooling).to(default_device())
        results[pooling] = evaluate_episode_sets(encoder, instances, episode_sets, ep.batch_size, ep.metric)
    return results


def evaluate(cfg: EvalJobConfig) -> dict:
    """Runs the evaluation of ``cfg.model`` (a name, folder or ``s3://`` export) into ``cfg.run_dir`` (folder or ``s3://``)."""
    with tempfile.TemporaryDirectory(prefix="tkre-eval-") as scratch:
        model = cfg.model
        if model.startswith("s3://"):
            model = str(download_folder(model, Path(scratch) / "model"))
        run_dir = Path(scratch) / "out" if "://" in cfg.run_dir else Path(cfg.run_dir)
        results = evaluate_into(cfg, run_dir, model)
        if "://" in cfg.run_dir:
            upload_folder(run_dir, cfg.run_dir)
    return results


def evaluate_into(cfg: EvalJobConfig, run_dir: Path, model: str) -> dict:
    """Writes ``config.yaml``, the frozen episodes, ``results.json``, ``results.md`` and ``episodic.png`` into ``run_dir``.

    ``model`` is where the encoder ``cfg.model`` names is read from (a local copy of an ``s3://`` export).
    """
    start = time.perf_counter()
    cfg = copy.deepcopy(cfg)
    for run in cfg.finetune:
        run.train.model = cfg.model
    save_config(cfg, run_dir / "config.yaml")
    results: dict = {"model": cfg.model}
    sections = []
    if cfg.episodic:
        results["episodic"] = run_episodic(cfg, run_dir, model)
        title = f"{cfg.model} on {cfg.episodic.dataset} {cfg.episodic.split}, {cfg.episodic.episodes} episodes"
        plot_episodic(results["episodic"], run_dir / "episodic.png", title)
        sections.append(f"## Episodic ({title}, accuracy %, 95% interval)\n\n{episodic_table(results['episodic'])}")
    if cfg.finetune:
        results["finetune"] = []
        for run in cfg.finetune:
            print(f"[eval] fine-tune {run.dataset} K={run.k_shot} seeds {run.seeds}", file=sys.stderr)
            result = finetune_seeds(run.dataset, run.k_shot, run.seeds, dataclasses.replace(run.train, model=model),
                                    cfg.data_dir, run.limit_per_relation)
            results["finetune"].append({**result, "config": {**result["config"], "model": cfg.model}})
        sections.append(f"## K-shot fine-tuning ({cfg.model})\n\n{finetune_table(results['finetune'])}")
    results["total_seconds"] = time.perf_counter() - start
    results["report"] = "\n\n".join(sections)
    (run_dir / "results.md").write_text(results["report"] + "\n")
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    return results


def summary_line(cfg: EvalJobConfig, results: dict) -> dict:
    """The flat one-line summary: accuracy per split, setting and pooling; fine-tuning F1 per dataset and K."""
    summary = {"run_dir": cfg.run_dir, "total_seconds": results["total_seconds"]}
    for pooling, by_setting in results.get("episodic", {}).items():
        for setting, r in by_setting.items():
            summary[f"{cfg.episodic.split}/acc_{setting.replace('-', 'w')}s/{pooling}"] = r["accuracy"]
    for r in results.get("finetune", []):
        summary[f"test/f1_{r['dataset']}_k{r['k_shot']}"] = r["test_f1_mean"]
    return summary


def main(argv: list[str] | None = None) -> dict:
    args = job_arguments(__doc__.split("\n")[0], argv)
    cfg = load_config(EvalJobConfig, args.config, args.set)
    results = evaluate(cfg)
    print(results["report"])
    print(json.dumps(summary_line(cfg, results)))
    return results


if __name__ == "__main__":
    main()
