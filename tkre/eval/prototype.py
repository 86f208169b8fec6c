"""Prototype classification of many episodes at once (Snell et al., 2017).

Usage: ``pred = prototype_predict(support, query)`` with support [E, N, K, D], query [E, Q, D]
"""

from __future__ import annotations

import torch

METRICS = ("euclidean", "dot", "cosine")


def prototype_scores(support: torch.Tensor, query: torch.Tensor, metric: str = "euclidean") -> torch.Tensor:
    """Scores [E, Q, N] of each query against each prototype (mean of the K support embeddings)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    prototypes = support.mean(dim=2)
    if metric == "euclidean":
        return -torch.cdist(query, prototypes).pow(2)
    if metric == "cosine":
        query = torch.nn.functional.normalize(query, dim=-1)
        prototypes = torch.nn.functional.normalize(prototypes, dim=-1)
    return query @ prototypes.transpose(1, 2)


def prototype_predict(
    support: torch.Tensor, query: torch.Tensor, metric: str = "euclidean", nota_threshold: float | None = None
) -> torch.Tensor:
    """Nearest prototype [E, Q]; with ``nota_threshold``, a best score below it predicts N (none-of-the-above)."""
    scores = prototype_scores(support, query, metric)
    best, pred = scores.max(dim=-1)
    if nota_threshold is not None:
        pred = torch.where(best < nota_threshold, torch.full_like(pred, support.size(1)), pred)
    return pred
