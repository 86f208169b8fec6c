"""Span-level contrastive learning (SCL): relation anchors against relation-span positives and random-span negatives.

For an instance of relation r: anchor = a learned embedding of r; positive = the mean-pooled hidden
states of its relation span; negative = the mean-pooled hidden states of a random 1-3 token span that
is neither an entity nor the relation span. All three go through one shared 2-layer projection, are
L2-normalised, compared by dot product / temperature, and cross-entropy picks the positive. With
``in_batch_negatives`` the anchor also faces every other span of the batch (positives of other
relations, all negatives) and the other relations' anchors.

Usage::

    vocab = RelationVocab(x.relation for x in train)
    head = SpanContrastiveHead(hidden_size=384, num_relations=len(vocab), temperature=0.1)
    loss = head(hidden, positive_mask, negative_mask, torch.tensor(vocab.ids(relations)))
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn


class RelationVocab:
    """Relation name <-> anchor id, built from the training data (sorted names); unknown names are errors."""

    def __init__(self, names: Iterable[str]):
        self.names = sorted(set(names))
        self.index = {name: i for i, name in enumerate(self.names)}

    def __len__(self) -> int:
        return len(self.names)

    def ids(self, names: Iterable[str]) -> list[int]:
        out = []
        for name in names:
            if name not in self.index:
                raise KeyError(f"relation {name!r} is not one of the {len(self)} training relations "
                               f"({', '.join(self.names[:5])}{', ...' if len(self) > 5 else ''})")
            out.append(self.index[name])
        return out


def span_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` (B, T, H) over the positions where ``mask`` (B, T) is true; zeros for empty spans."""
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class SpanContrastiveHead(nn.Module):
    """Anchors, the shared projection and the SCL loss; instances with an empty span are left out."""

    def __init__(self, hidden_size: int, num_relations: int, projection_size: int | None = None,
                 temperature: float = 0.1, in_batch_negatives: bool = False):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"scl temperature must be > 0, got {temperature}")
        self.anchors = nn.Embedding(num_relations, hidden_size)
        self.projection = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.ReLU(),
                                        nn.Linear(hidden_size, projection_size or hidden_size))
        self.temperature, self.in_batch_negatives = temperature, in_batch_negatives

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(x), dim=-1)

    def forward(self, hidden: torch.Tensor, positive_mask: torch.Tensor, negative_mask: torch.Tensor,
                relation_ids: torch.Tensor) -> torch.Tensor:
        valid = positive_mask.any(1) & negative_mask.any(1)
        if not valid.any():
            return hidden.sum() * 0.0 + self.anchors.weight.sum() * 0.0  # keeps every parameter in the graph
        hidden, relation_ids = hidden[valid], relation_ids[valid]
        anchors = self.project(self.anchors(relation_ids))
        positives = self.project(span_mean(hidden, positive_mask[valid]))
        negatives = self.project(span_mean(hidden, negative_mask[valid]))
        if not self.in_batch_negatives:
            logits = torch.stack([(anchors * positives).sum(-1), (anchors * negatives).sum(-1)], dim=1)
            target = torch.zeros(len(anchors), dtype=torch.long, device=hidden.device)
            return F.cross_entropy(logits / self.temperature, target)
        others = torch.unique(relation_ids)
        keys = torch.cat([positives, negatives, self.project(self.anchors(others))])
        logits = anchors @ keys.T
        n = len(anchors)
        same = relation_ids[:, None] == relation_ids[None, :]
        excluded = torch.cat([same & ~torch.eye(n, dtype=torch.bool, device=hidden.device),  # same-relation positives
                              torch.zeros(n, n, dtype=torch.bool, device=hidden.device),
                              relation_ids[:, None] == others[None, :]], dim=1)  # its own anchor
        logits = logits.masked_fill(excluded, float("-inf"))
        return F.cross_entropy(logits / self.temperature, torch.arange(n, device=hidden.device))
