"""How an encoder scores relations by prototypes, declared once: ``ScoringSettings``.

Eval's episodic settings, validation during training, meta-training and every export's model card
(its inference settings) embed it; the evaluator (``tkre.eval.episodic``) and the few-shot
classifier (``tkre.predict.fewshot``) take it whole. Its defaults are the protocol chosen on the
validation relations (docs/results/protocol_validation.md): sentence-mean pooling, cosine
prototypes, each relation's description as one more support instance. No torch here, so loading
a config stays light.

Usage::

    scoring = ScoringSettings()                      # mean, cosine, descriptions add, weight 1
    evaluate_episode_sets(encoder, instances, sets, dataclasses.replace(scoring, metric="euclidean"))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tkre.config import at_least, one_of, positive
from tkre.errors import ConfigError

POOLINGS = ("marker", "entity", "mean")
METRICS = ("euclidean", "dot", "cosine")
DESCRIPTIONS = ("none", "add", "only")  # how descriptions enter a prototype
SCORE_RANGES = {"euclidean": (-math.inf, 0.0), "dot": (-math.inf, math.inf), "cosine": (-1.0, 1.0)}  # of prototype scores


@dataclass
class ScoringSettings:
    pooling: str = one_of("mean", POOLINGS)
    metric: str = one_of("cosine", METRICS)
    descriptions: str = one_of("add", DESCRIPTIONS)  # add: the description joins the support; only: alone
    description_weight: float = at_least(1.0, 0)  # the description counts as w support instances: (K * mean + w * d) / (K + w)
    nota_threshold: float | None = None  # predict none-of-the-above below this prototype score
    typed_markers: bool = False  # typed markers where the data has entity types
    max_length: int = positive(256)


SCORING_KEYS = tuple(ScoringSettings.__dataclass_fields__)


def scoring_of(settings: ScoringSettings, **changes) -> ScoringSettings:
    """The plain ``ScoringSettings`` inside a config that embeds it (eval, validation, meta-training), with ``changes``."""
    return ScoringSettings(**{**{k: getattr(settings, k) for k in SCORING_KEYS}, **changes})


def check_threshold(threshold: float | None, metric: str | None) -> None:
    """A none-of-the-above threshold outside the range of the scores (``metric``'s prototype scores, or with
    None a kept classifier's probabilities) is a ``ConfigError``: every query, or none, would fall below it."""
    low, high = SCORE_RANGES[metric] if metric else (0.0, 1.0)
    if threshold is not None and not low <= threshold <= high:
        which = f"{metric} scores" if metric else "a kept classifier's probabilities"
        raise ConfigError(f"--threshold {threshold}: outside [{low}, {high}], the range of {which}")
