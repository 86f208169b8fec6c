"""Episodic validation during pre-training: relations held out of the corpus, frozen episodes, live weights.

The ``val.holdout`` validation relations (``tkre.data.splits.validation_relations``, a seeded draw)
are removed from pre-training and scored on instances of a validation split (default Wiki80 dev) as N-way K-shot episodes for
every K in ``val.k_shots``. The episodes are a pure function of the config (seeded), so every
evaluation of every trial scores the same episodes. A ``test`` split is refused: sweeps select on
validation only.

Usage::

    heldout = validation_relations(ValidationConfig(holdout=16))
    texts = [t for t in texts if t.relation not in heldout]        # held out of pre-training
    validator = Validator(ValidationConfig(holdout=16), heldout, "runs/mslm/export")
    validator(model.mlm.base_model)     # {"val/acc": ..., "val/acc_5w1s": ..., "val/acc_5w5s": ...}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from tkre.config import at_least, checked, one_of, positive
from tkre.data.datasets import data_dir, limit_per_relation, load_split, relation_schemas, split_path
from tkre.data.episodes import sample_episodes
from tkre.data.splits import HoldoutSettings
from tkre.eval.episodic import evaluate_episode_sets
from tkre.models.prototype import DESCRIPTIONS, METRICS
from tkre.models.encoder import POOLINGS, RelationEncoder


def _positive_ints(values: list[int]) -> str | None:
    return None if values and all(v > 0 for v in values) else f"must be a non-empty list of K > 0, got {values!r}"


@dataclass
class ValidationConfig(HoldoutSettings):
    """``holdout`` relations (``tkre.data.splits.validation_relations``) held out of training and scored."""

    data: str = "wiki80"
    split: str = checked(lambda v: "validation never reads a test split" if v == "test" else None, "dev")
    n_way: int = at_least(5, 2)
    k_shots: list[int] = checked(_positive_ints, lambda: [1, 5])  # val/acc is their mean
    n_query: int = positive(5)
    episodes: int = positive(200)  # per K
    seed: int = 0
    limit_per_relation: int | None = positive(40)
    pooling: str = one_of("mean", POOLINGS)
    metric: str = one_of("cosine", METRICS)  # the evaluation protocol chosen on validation (tkre.eval.config)
    descriptions: str = one_of("add", DESCRIPTIONS)  # relation descriptions from the data's schema (tkre.data.schemas)
    description_weight: float = at_least(1.0, 0)
    batch_size: int = positive(64)
    eval_every: int = positive(20)  # steps


class Validator:
    """Scores an encoder backbone on the frozen validation episodes of the held-out relations."""

    def __init__(self, cfg: ValidationConfig, relations: list[str], model_path: str, max_length: int = 128,
                 root: str | None = None):
        if cfg.split == "test":
            raise ValueError(f"val.split: sweeps and validation never read a test split, got {cfg.data}/{cfg.split}")
        if not cfg.k_shots or cfg.eval_every < 1:
            raise ValueError(f"val: expected k_shots non-empty and eval_every >= 1, got {cfg.k_shots} and {cfg.eval_every}")
        self.cfg = cfg
        self.relations = relations
        instances = [x for x in load_split(cfg.data, cfg.split, root) if x.relation in self.relations]
        missing = sorted(set(self.relations) - {x.relation for x in instances})
        if missing:
            path = split_path(cfg.data, cfg.split, data_dir(root))
            raise ValueError(f"{path}: held-out relations {missing} have no instances to validate on")
        self.instances = limit_per_relation(instances, cfg.limit_per_relation)
        self.episodes = {f"{cfg.n_way}w{k}s": sample_episodes(self.instances, cfg.n_way, k, cfg.n_query, cfg.episodes, cfg.seed)
                         for k in cfg.k_shots}
        self.texts = None
        if cfg.descriptions != "none":
            self.texts = {r: s.text for r, s in relation_schemas(self.relations, cfg.data, root).items()}
        self.model_path, self.max_length = model_path, max_length
        self.encoder: RelationEncoder | None = None  # wraps the backbone it is first called with

    def __call__(self, backbone: nn.Module) -> dict[str, float]:
        """Accuracy (%) per episode setting and their mean as ``val/acc``; the backbone's train/eval mode is kept."""
        was_training = backbone.training
        if self.encoder is None or self.encoder.encoder is not backbone:
            self.encoder = RelationEncoder(self.model_path, self.cfg.pooling, max_length=self.max_length, backbone=backbone)
        results = evaluate_episode_sets(self.encoder, self.instances, self.episodes, self.cfg.batch_size, self.cfg.metric,
                                        progress=False, descriptions=self.texts, description_mode=self.cfg.descriptions,
                                        description_weight=self.cfg.description_weight)
        backbone.train(was_training)
        accuracy = {f"val/acc_{name}": 100 * r["accuracy"] for name, r in results.items()}
        return {"val/acc": float(np.mean(list(accuracy.values()))), **accuracy}
