"""Prototype classification of many episodes at once (Snell et al., 2017), with relation descriptions.

A prototype is the mean of a relation's K support embeddings; with a description embedding the
description counts as ``w`` more support instances (Liu et al., 2022, add the two):
``(K * support_mean + w * description) / (K + w)``, so the description weighs most where the
support is thinnest, and with no support (0-shot, or descriptions alone) it is the prototype.
Under ``cosine`` every embedding is L2-normalised first (as a sentence-transformers Normalize step
does), and so is the support mean.

Usage::

    protos = prototypes(support, "cosine", descriptions, weight=1.0)   # support [E, N, K, D], descriptions [E, N, D]
    pred = prototype_scores(protos, query, "cosine").argmax(-1)         # query [E, Q, D] -> [E, Q]
"""

from __future__ import annotations

import torch
from torch.nn.functional import normalize

from tkre.models.scoring import METRICS


def prototypes(support: torch.Tensor, metric: str, descriptions: torch.Tensor | None = None,
               weight: float = 1.0, has_description: torch.Tensor | None = None) -> torch.Tensor:
    """Prototypes [E, N, D] from support [E, N, K, D] (K may be 0) and optional descriptions [E, N, D].

    ``has_description`` [E, N] (bool) keeps the support mean alone where it is False (a dropped or
    missing description); with K = 0 the description is the prototype.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if descriptions is not None and metric == "cosine":
        descriptions = normalize(descriptions, dim=-1)
    if support.size(2) == 0:
        if descriptions is None:
            raise ValueError("0-shot prototypes need descriptions")
        return descriptions
    if metric == "cosine":
        mean = normalize(normalize(support, dim=-1).mean(dim=2), dim=-1)
    else:
        mean = support.mean(dim=2)
    if descriptions is None:
        return mean
    k_shot = support.size(2)
    combined = (k_shot * mean + weight * descriptions) / (k_shot + weight)
    if has_description is None:
        return combined
    return torch.where(has_description.unsqueeze(-1), combined, mean)


def prototype_scores(prototypes: torch.Tensor, query: torch.Tensor, metric: str) -> torch.Tensor:
    """Scores [E, Q, N] of each query [E, Q, D] against each prototype [E, N, D]; higher is nearer."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if metric == "euclidean":
        return -torch.cdist(query, prototypes).pow(2)
    if metric == "cosine":
        query, prototypes = normalize(query, dim=-1), normalize(prototypes, dim=-1)
    return query @ prototypes.transpose(1, 2)


def predict(scores: torch.Tensor, nota_threshold: float | None = None) -> torch.Tensor:
    """Nearest prototype [E, Q]; with ``nota_threshold``, a best score below it predicts N (none-of-the-above)."""
    best, pred = scores.max(dim=-1)
    if nota_threshold is not None:
        pred = torch.where(best < nota_threshold, torch.full_like(pred, scores.size(-1)), pred)
    return pred
