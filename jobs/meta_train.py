"""meta_train job: prototypical (episodic) meta-training of an encoder on gold Wiki80 relations.

The baseline TKRE must beat, and TKRE's last step when ``init_from`` is a pre-trained export.
Trains on the Wiki80 relations disjoint from FewRel val (so FewRel val stays unseen), in one
process through the shared loop (checkpoints under ``run_dir``, resumed on rerun), and exports
a Hugging Face encoder to ``<run_dir>/export``. Ends with one JSON line.

Usage: ``python -m jobs.meta_train --config jobs/configs/meta_train/proto_minilm.yaml [--set init_from=...]``
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tkre.config import job_arguments, load_config, save_config
from tkre.data.datasets import wiki80_disjoint_from_fewrel_val
from tkre.data.episodes import sample_episodes
from tkre.models.encoder import RelationEncoder, default_device
from tkre.train.engines import EngineSettings, make_engine
from tkre.train.loop import LocalContext, LoopSettings, train
from tkre.train.meta import PrototypicalModel, episode_batch


@dataclass
class MetaTrainJobConfig:
    run_dir: str = "runs/proto"
    init_from: str = "minilm"  # minilm, a folder (e.g. a pre-training export) or hub name
    data_dir: str | None = None
    splits: list[str] = field(default_factory=lambda: ["dev", "test"])  # Wiki80 splits, FewRel val relations dropped
    pooling: str = "mean"
    metric: str = "euclidean"
    max_length: int = 128
    n_way: int = 5
    k_shot: int = 1
    n_query: int = 5
    loop: LoopSettings = field(default_factory=LoopSettings)  # batch_size: episodes per step
    engine: EngineSettings = field(default_factory=EngineSettings)


def meta_train(cfg: MetaTrainJobConfig) -> dict:
    run_dir = Path(cfg.run_dir)
    save_config(cfg, run_dir / "config.yaml")
    instances = []
    for split in cfg.splits:
        instances += wiki80_disjoint_from_fewrel_val(split, cfg.data_dir)[0]
    relations = len({x.relation for x in instances})
    print(f"[meta_train] {len(instances)} Wiki80 instances of {relations} relations, init from {cfg.init_from}", file=sys.stderr)
    torch.manual_seed(cfg.loop.seed)
    model = PrototypicalModel(RelationEncoder(cfg.init_from, cfg.pooling, max_length=cfg.max_length), cfg.metric)
    model.train()
    features = model.encoder.featurize(instances)
    episodes = sample_episodes(instances, cfg.n_way, cfg.k_shot, cfg.n_query,
                               cfg.loop.max_steps * cfg.loop.batch_size, cfg.loop.seed)
    engine = make_engine(cfg.engine, model, cfg.loop.max_steps, cfg.loop.batch_size, default_device())
    ctx = LocalContext(str(run_dir))
    start = time.time()
    metrics = train(engine, episodes, lambda eps, epoch: episode_batch(model.encoder, features, eps),
                    cfg.loop, ctx, export=model.export)
    export = run_dir / "export"
    shutil.rmtree(export, ignore_errors=True)
    shutil.copytree(Path(ctx.latest_checkpoint()) / "hf", export)
    summary = {"run_dir": str(run_dir), "export": str(export), "instances": len(instances), "relations": relations,
               **metrics, "history": ctx.history, "wall_s": round(time.time() - start, 1)}
    (run_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
    return {k: v for k, v in summary.items() if k != "history"}


def main(argv: list[str] | None = None) -> dict:
    args = job_arguments(__doc__.split("\n")[0], argv)
    summary = meta_train(load_config(MetaTrainJobConfig, args.config, args.set))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
