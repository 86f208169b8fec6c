"""Episodic evaluation: encode each distinct instance once, then classify every episode by prototypes.

Usage::

    result = evaluate_episodes(encoder, instances, episodes)   # {"accuracy", "ci95", ...}
    results = evaluate_episode_sets(encoder, instances, {"5w1s": eps_a, "10w5s": eps_b})  # one encoding
"""

from __future__ import annotations

import time

import numpy as np
import torch
from tqdm.auto import tqdm

from tkre.data.episodes import Episode, episode_instances
from tkre.data.instance import RelationInstance
from tkre.eval.metrics import mean_ci95
from tkre.eval.prototype import prototype_predict


def episode_accuracies(
    embeddings: torch.Tensor,
    row_of: np.ndarray,
    episodes: list[Episode],
    metric: str = "euclidean",
    nota_threshold: float | None = None,
    chunk: int = 2000,
    progress: bool = True,
) -> np.ndarray:
    """Accuracy of each episode, given embeddings whose row for instance ``i`` is ``row_of[i]``."""
    accuracies = []
    for start in tqdm(range(0, len(episodes), chunk), desc="episodes", disable=not progress):
        part = episodes[start : start + chunk]
        support = torch.as_tensor(row_of[np.array([ep.support for ep in part])])  # [E, N, K]
        query = torch.as_tensor(row_of[np.array([ep.query for ep in part])])  # [E, Q]
        labels = torch.tensor([ep.labels for ep in part])
        pred = prototype_predict(embeddings[support], embeddings[query], metric, nota_threshold)
        accuracies.append((pred == labels).float().mean(dim=1).numpy())
    return np.concatenate(accuracies)


def evaluate_episode_sets(
    encoder,
    instances: list[RelationInstance],
    episode_sets: dict[str, list[Episode]],
    batch_size: int = 64,
    metric: str = "euclidean",
    nota_threshold: float | None = None,
    progress: bool = True,
) -> dict[str, dict]:
    """Accuracy with its 95% interval per episode set; the instances of all sets are encoded once."""
    start = time.perf_counter()
    used = episode_instances([ep for eps in episode_sets.values() for ep in eps])
    row_of = np.full(len(instances), -1, dtype=np.int64)
    row_of[used] = np.arange(len(used))
    encode_start = time.perf_counter()
    embeddings = encoder.encode([instances[i] for i in used], batch_size=batch_size, progress=progress)
    encode_seconds = time.perf_counter() - encode_start
    results = {}
    for name, episodes in episode_sets.items():
        accuracies = episode_accuracies(embeddings, row_of, episodes, metric, nota_threshold, progress=progress)
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
        }
    return results


def evaluate_episodes(encoder, instances: list[RelationInstance], episodes: list[Episode], **kwargs) -> dict:
    """``evaluate_episode_sets`` for a single set of episodes."""
    return evaluate_episode_sets(encoder, instances, {"episodes": episodes}, **kwargs)["episodes"]
