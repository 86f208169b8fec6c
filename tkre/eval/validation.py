"""Episodic validation during pre-training: relations held out of the corpus, frozen episodes, live weights.

The ``val.holdout`` validation relations (``tkre.data.splits.validation_relations``, a seeded draw)
are removed from training and scored on instances of a validation split (default Wiki80 dev) as
N-way K-shot episodes for every K in ``val.k_shots``, under the ``ScoringSettings`` that
``ValidationConfig`` (``tkre.train.config``) embeds. The episodes are a pure function of the config (seeded), so every
evaluation of every trial scores the same episodes. A ``test`` split is refused: sweeps select on
validation only.

Usage::

    heldout = validation_relations(ValidationConfig(holdout=16))            # tkre.data.splits
    texts = [t for t in texts if t.relation not in heldout]        # held out of pre-training
    validator = Validator(ValidationConfig(holdout=16), heldout, "runs/mslm/export")
    validator(model.mlm.base_model)     # {"val/acc": ..., "val/acc_5w1s": ..., "val/acc_5w5s": ...}
"""

from __future__ import annotations

import numpy as np
from torch import nn

from tkre.data.datasets import data_dir, limit_per_relation, load_split, relation_schemas, split_path
from tkre.data.episodes import sample_episodes
from tkre.eval.episodic import evaluate_episode_sets
from tkre.models.encoder import RelationEncoder
from tkre.models.scoring import scoring_of
from tkre.train.config import ValidationConfig


class Validator:
    """Scores an encoder backbone on the frozen validation episodes of the held-out relations."""

    def __init__(self, cfg: ValidationConfig, relations: list[str], model_path: str, max_length: int = 128,
                 root: str | None = None):
        """``max_length``: the trained model's, used where ``cfg.max_length`` is null."""
        if cfg.split == "test":
            raise ValueError(f"val.split: sweeps and validation never read a test split, got {cfg.data}/{cfg.split}")
        if not cfg.k_shots:
            raise ValueError(f"val.k_shots: expected a non-empty list, got {cfg.k_shots}")
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
        self.model_path = model_path
        self.scoring = scoring_of(cfg, max_length=cfg.max_length or max_length)
        self.encoder: RelationEncoder | None = None  # wraps the backbone it is first called with

    def __call__(self, backbone: nn.Module) -> dict[str, float]:
        """Accuracy (%) per episode setting and their mean as ``val/acc``; the backbone's train/eval mode is kept."""
        was_training = backbone.training
        if self.encoder is None or self.encoder.encoder is not backbone:
            self.encoder = RelationEncoder(self.model_path, self.scoring.pooling, self.scoring.typed_markers,
                                           self.scoring.max_length, backbone=backbone)
        results = evaluate_episode_sets(self.encoder, self.instances, self.episodes, self.scoring, self.texts,
                                        self.cfg.batch_size, progress=False)
        backbone.train(was_training)
        accuracy = {f"val/acc_{name}": 100 * r["accuracy"] for name, r in results.items()}
        return {"val/acc": float(np.mean(list(accuracy.values()))), **accuracy}
