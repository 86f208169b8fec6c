"""Episodic evaluation: encode each distinct instance once, then classify every episode by prototypes.

Usage::

    result = evaluate_episodes(encoder, instances, episodes)   # {"accuracy", "ci95", ...}, ScoringSettings()
    results = evaluate_episode_sets(encoder, instances, {"5w1s": eps_a, "10w5s": eps_b})  # one encoding
    results = evaluate_episode_sets(encoder, instances, sets, ScoringSettings(metric="dot"), {"P931": "place served ..."})
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from tkre.data.episodes import Episode, episode_instances
from tkre.data.instance import RelationInstance
from tkre.eval.metrics import mean_ci95
from tkre.models.prototype import predict, prototype_scores, prototypes
from tkre.models.scoring import ScoringSettings


@dataclass
class Descriptions:
    """Description embeddings [R, D] of relations (row ``row[relation]``) and how prototypes use them."""

    embeddings: torch.Tensor
    row: dict[str, int]
    mode: str = "add"  # add | only (see tkre.models.scoring.DESCRIPTIONS)
    weight: float = 1.0

    @classmethod
    def encode(cls, encoder, texts: dict[str, str], mode: str = "add", weight: float = 1.0, batch_size: int = 64):
        """Encodes each relation's text once."""
        names = sorted(texts)
        return cls(encoder.encode_texts([texts[r] for r in names], batch_size), {r: i for i, r in enumerate(names)},
                   mode, weight)

    def of(self, episodes: list[Episode]) -> torch.Tensor:
        """[E, N, D]: the description of each episode's relations."""
        return self.embeddings[torch.tensor([[self.row[r] for r in ep.relations] for ep in episodes])]


def episode_accuracies(
    embeddings: torch.Tensor,
    row_of: np.ndarray,
    episodes: list[Episode],
    metric: str,
    nota_threshold: float | None = None,
    chunk: int = 2000,
    progress: bool = True,
    descriptions: Descriptions | None = None,
) -> np.ndarray:
    """Accuracy of each episode, given embeddings whose row for instance ``i`` is ``row_of[i]``."""
    accuracies = []
    for start in tqdm(range(0, len(episodes), chunk), desc="episodes", disable=not progress):
        part = episodes[start : start + chunk]
        n_way, k_shot = len(part[0].support), len(part[0].support[0])
        support_ids = np.array([ep.support for ep in part], dtype=np.int64).reshape(len(part), n_way, k_shot)
        support = embeddings[torch.as_tensor(row_of[support_ids])]  # [E, N, K, D]
        query = embeddings[torch.as_tensor(row_of[np.array([ep.query for ep in part])])]  # [E, Q, D]
        labels = torch.tensor([ep.labels for ep in part])
        described, weight = None, 1.0
        if descriptions is not None and descriptions.mode != "none":
            described, weight = descriptions.of(part), descriptions.weight
            if descriptions.mode == "only":
                support = support[:, :, :0]
        scores = prototype_scores(prototypes(support, metric, described, weight), query, metric)
        accuracies.append((predict(scores, nota_threshold) == labels).float().mean(dim=1).numpy())
    return np.concatenate(accuracies)


def evaluate_episode_sets(
    encoder,
    instances: list[RelationInstance],
    episode_sets: dict[str, list[Episode]],
    scoring: ScoringSettings | None = None,
    descriptions: dict[str, str] | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> dict[str, dict]:
    """Accuracy with its 95% interval per episode set, scored under ``scoring`` (metric, descriptions and their
    weight, NOTA threshold; default ``ScoringSettings()``); the instances of all sets are encoded once, and so
    is the description text (``descriptions``: relation -> text) of each relation."""
    scoring = scoring or ScoringSettings()
    start = time.perf_counter()
    used = episode_instances([ep for eps in episode_sets.values() for ep in eps])
    row_of = np.full(len(instances), -1, dtype=np.int64)
    row_of[used] = np.arange(len(used))
    encode_start = time.perf_counter()
    embeddings = encoder.encode([instances[i] for i in used], batch_size=batch_size, progress=progress)
    described = None
    if descriptions is not None:
        described = Descriptions.encode(encoder, descriptions, scoring.descriptions, scoring.description_weight, batch_size)
    encode_seconds = time.perf_counter() - encode_start
    results = {}
    for name, episodes in episode_sets.items():
        accuracies = episode_accuracies(embeddings, row_of, episodes, scoring.metric, scoring.nota_threshold,
                                        progress=progress, descriptions=described)
        accuracy, ci95 = mean_ci95(accuracies.tolist())
        first = episodes[0]
        results[name] = {
            "accuracy": accuracy,
            "ci95": ci95,
            "episodes": len(episodes),
            "n_way": len(first.relations),
            "k_shot": len(first.support[0]),
            "queries_per_episode": len(first.query),
            "unique_instances": len(used),
            "encode_seconds": encode_seconds,
            "total_seconds": time.perf_counter() - start,
            "per_episode": [round(float(a), 6) for a in accuracies],  # for paired tests on the same episodes
        }
    return results


def evaluate_episodes(encoder, instances: list[RelationInstance], episodes: list[Episode], *args, **kwargs) -> dict:
    """``evaluate_episode_sets`` for a single set of episodes."""
    return evaluate_episode_sets(encoder, instances, {"episodes": episodes}, *args, **kwargs)["episodes"]
