"""meta_train job: prototypical (episodic) meta-training of an encoder on gold Wiki80 relations.

The baseline TKRE must beat, and TKRE's last step when ``init_from`` is a pre-trained export.
Trains on the Wiki80 relations disjoint from FewRel val (so FewRel val stays unseen), in one
process through the shared loop (checkpoints under ``run_dir``, resumed on rerun), and exports
a Hugging Face encoder to ``<run_dir>/export``. Ends with one JSON line.

Usage: ``python -m jobs.meta_train --config jobs/configs/meta_train/proto_minilm.yaml [--set init_from=...]``
(= ``tkre meta-train ...``)
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from tkre.config import FieldError, at_least, data_arguments, fraction, load_config, one_of, positive, save_config
from tkre.data.datasets import relation_schemas
from tkre.data.episodes import sample_episodes
from tkre.data.records import read_data_file
from tkre.data.splits import validation_relations, wiki80_disjoint_from_fewrel_val
from tkre.errors import user_errors
from tkre.eval.validation import Validator
from tkre.models.card import write_card
from tkre.models.encoder import RelationEncoder, default_device, resolve_model
from tkre.models.scoring import ScoringSettings, scoring_of
from tkre.storage import CONFIG, EXPORT, METRICS_FILE, open_storage
from tkre.tracking import TrackingSettings, job_run, open_tracking, tracked
from tkre.train.config import EngineSettings, LoopSettings, ValidationConfig
from tkre.train.engines import make_engine
from tkre.train.loop import LocalContext, train
from tkre.train.meta import PrototypicalModel, episode_batch


@dataclass
class MetaTrainConfig(ScoringSettings):
    """Meta-training, scored as it trains and recorded in the export's card under its ``ScoringSettings``
    (defaults chosen on validation: jobs/configs/meta_train/validation.yaml, docs/results/protocol_validation_meta.md)."""

    run_dir: str = "runs/proto"  # a folder
    init_from: str = "minilm"  # minilm, a folder (e.g. a pre-training export) or hub name
    data_dir: str | None = None
    splits: list[str] = one_of(lambda: ["dev", "test"], ("train", "dev", "test"))  # Wiki80, FewRel val relations dropped
    data: str | None = None  # your own labelled file instead of Wiki80 (FewRel, TACRED, SemEval lines or records)
    data_format: str | None = None  # fewrel | tacred | semeval | records (default: inferred from the file)
    exclude_validation: bool = False  # also drop Wiki80's 16 validation relations (scored by ``val``)
    scale: float = positive(10.0)  # logits = scale * prototype scores (cosine scores lie in [-1, 1])
    learn_scale: bool = False  # the scale is a parameter that starts at ``scale``
    descriptions: str = one_of("add", ("none", "add"))  # add: train description prototypes
    description_drop: float = fraction(0.0)  # probability that a relation's prototype goes without its description
    schema: str | None = None  # relation names and descriptions: Wiki80's (pid2name.json), or a .json/.yaml file
    max_length: int = positive(128)
    n_way: int = at_least(5, 2)
    k_shot: int = positive(1)
    n_query: int = positive(5)
    loop: LoopSettings = field(default_factory=LoopSettings)  # batch_size: episodes per step
    engine: EngineSettings = field(default_factory=EngineSettings)
    val: ValidationConfig | None = None  # with exclude_validation: validation accuracy every loop.eval_every steps
    tracking: TrackingSettings = field(default_factory=TrackingSettings)  # MLflow: where this job's run is logged


def check_meta(cfg: MetaTrainConfig) -> None:
    if cfg.val is not None and not cfg.exclude_validation:
        raise FieldError("val", "validation relations are trained on: set exclude_validation: true")


Config = MetaTrainConfig


def load(path: str, overrides: list[str] = ()) -> Config:
    return load_config(Config, path, overrides, check=check_meta)


def training_data(cfg: Config) -> tuple[list, list[str]]:
    """The Wiki80 instances meta-training reads (FewRel val relations dropped), or those of ``data`` (a
    user's file); without the validation relations when ``exclude_validation``; and those relations."""
    held_out = validation_relations(cfg.val, cfg.data_dir) if cfg.exclude_validation else []
    if cfg.data:
        return [x for x in read_data_file(cfg.data, cfg.data_format) if x.relation not in held_out], held_out
    instances = []
    for split in cfg.splits:
        instances += [x for x in wiki80_disjoint_from_fewrel_val(split, cfg.data_dir)[0] if x.relation not in held_out]
    return instances, held_out


def run(cfg: Config) -> dict:
    """Meta-trains into ``cfg.run_dir``; returns the summary, logged with every step to the job's MLflow run."""
    tracking = open_tracking(cfg.tracking)  # checks before anything is written: the tracking server, the model, the data
    run_dir = Path(cfg.run_dir)
    resolve_model(cfg.init_from)
    open_storage(run_dir).check()
    instances, held_out = training_data(cfg)
    n_episodes = cfg.loop.max_steps * cfg.loop.batch_size
    episodes = sample_episodes(instances, cfg.n_way, cfg.k_shot, cfg.n_query, n_episodes, cfg.loop.seed)
    schemas = relation_schemas({x.relation for x in instances}, cfg.schema or "wiki80", cfg.data_dir)
    texts = {r: s.text for r, s in schemas.items()} if cfg.descriptions == "add" else None
    # which prototypes keep their description: drawn once, so a resumed run sees the same batches
    described = np.random.default_rng([cfg.loop.seed, 1]).random((n_episodes, cfg.n_way)) >= cfg.description_drop
    validator = Validator(cfg.val, held_out, cfg.init_from, cfg.max_length, cfg.data_dir) if cfg.val else None
    save_config(cfg, run_dir / CONFIG)
    with job_run(tracking, "meta", cfg, record=open_storage(run_dir)) as run:  # a resumed run goes on logging to the same run
        summary = meta_train(cfg, instances, episodes, schemas, texts, described, validator, run.remote(str(run_dir)))
        run.tags({"tkre.export": summary["export"]})
        run.metrics({"wall_s": summary["wall_s"]})
        run.artifacts(open_storage(summary["export"]), ["README.md", "tkre.json"], "model_card")
        run.artifacts(open_storage(run_dir), [METRICS_FILE, CONFIG])
    return summary


def meta_train(cfg: Config, instances: list, episodes: list, schemas, texts: dict | None, described: np.ndarray,
               validator: Validator | None, tracking: dict | None) -> dict:
    """The checked meta-training in this process (each report also logged to the ``tracking`` run); the export."""
    run_dir = Path(cfg.run_dir)
    n_episodes = len(episodes)
    relations = len(schemas)
    print(f"[meta_train] {len(instances)} Wiki80 instances of {relations} relations "
          f"({len(schemas.fallback)} without a schema entry), init from {cfg.init_from}", file=sys.stderr)
    torch.manual_seed(cfg.loop.seed)
    model = PrototypicalModel(RelationEncoder(cfg.init_from, cfg.pooling, cfg.typed_markers, cfg.max_length), cfg.metric,
                              cfg.description_weight, cfg.scale, cfg.learn_scale)
    model.train()
    features = model.encoder.featurize(instances)
    engine = make_engine(cfg.engine, model, cfg.loop.max_steps, cfg.loop.batch_size, default_device())
    ctx = tracked(LocalContext(str(run_dir)), tracking)
    start = time.time()

    def collate(items: list[int], epoch: int) -> dict:
        return episode_batch(model.encoder, features, [episodes[i] for i in items], texts,
                             described[items].tolist() if texts else None)

    evaluate = (lambda: validator(model.encoder.encoder)) if validator else None
    metrics = train(engine, list(range(n_episodes)), collate, cfg.loop, ctx, export=model.export, evaluate=evaluate)
    ctx.close()  # the last steps reach the tracking server
    export = run_dir / EXPORT
    shutil.rmtree(export, ignore_errors=True)
    shutil.copytree(Path(ctx.latest_checkpoint()) / "hf", export)
    write_card(str(export), "meta-train", asdict(cfg), metrics,
               f"{len(instances)} Wiki80 instances of {relations} relations",
               scoring_of(cfg, max_length=ScoringSettings.max_length), cfg.init_from)  # inference reads up to 256 tokens
    summary = {"run_dir": str(run_dir), "export": str(export), "instances": len(instances), "relations": relations,
               **metrics, "history": ctx.history, "wall_s": round(time.time() - start, 1)}
    (run_dir / METRICS_FILE).write_text(json.dumps(summary, indent=2))
    return {k: v for k, v in summary.items() if k != "history"}


def main(argv: list[str] | None = None, prog: str = "python -m jobs.meta_train") -> dict:
    with user_errors(prog):
        args = data_arguments(__doc__.split("\n")[0], argv, prog, "data")
        summary = run(load(args.config, args.set))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
