"""Span-level contrastive learning (SCL): relation anchors against relation-span positives and random-span negatives.

Learned anchors (the paper): for an instance of relation r, anchor = a learned embedding of r;
positive = the mean-pooled hidden states of its relation span; negative = the mean-pooled hidden
states of a random 1-3 token span that is neither an entity nor the relation span. All three go
through one shared 2-layer projection, are L2-normalised, compared by dot product / temperature,
and cross-entropy picks the positive. With ``in_batch_negatives`` the anchor also faces every other
span of the batch (positives of other relations, all negatives) and the other relations' anchors.

Description anchors (``anchors=`` given): the anchors are the encoder's own embeddings of the
batch's relation descriptions, so they exist for relations never trained on, and the scores are
the cosine the evaluation uses (no projection). The positive pair (own anchor, positive) faces the
random-span negative under its own anchor and the positive under every other anchor of the batch;
``in_batch_negatives`` adds the other relations' positives and the other negatives under its anchor.

Usage::

    vocab = RelationVocab(x.relation for x in train)
    head = SpanContrastiveHead(hidden_size=384, num_relations=len(vocab), temperature=0.1)
    loss = head(hidden, positive_mask, negative_mask, torch.tensor(vocab.ids(relations)))
    described = SpanContrastiveHead(384, 0, temperature=0.1)
    loss = described(hidden, positive_mask, negative_mask, anchor_index, anchors=description_embeddings)
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from tkre.models.encoder import span_mean


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


class SpanContrastiveHead(nn.Module):
    """Anchors, the shared projection and the SCL loss; instances with an empty span are left out."""

    def __init__(self, hidden_size: int, num_relations: int, projection_size: int | None = None,
                 temperature: float = 0.1, in_batch_negatives: bool = False):
        """``num_relations`` learned anchors behind a projection; 0: description anchors, no parameters."""
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"scl temperature must be > 0, got {temperature}")
        self.anchors = self.projection = None
        if num_relations:
            self.anchors = nn.Embedding(num_relations, hidden_size)
            self.projection = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.ReLU(),
                                            nn.Linear(hidden_size, projection_size or hidden_size))
        self.temperature, self.in_batch_negatives = temperature, in_batch_negatives

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(x) if self.projection is not None else x, dim=-1)

    def forward(self, hidden: torch.Tensor, positive_mask: torch.Tensor, negative_mask: torch.Tensor,
                relation_ids: torch.Tensor, anchors: torch.Tensor | None = None) -> torch.Tensor:
        """``relation_ids`` index the learned anchors, or the rows of ``anchors`` (one per relation of the batch)."""
        valid = positive_mask.any(1) & negative_mask.any(1)
        if not valid.any():
            keep = sum(p.sum() for p in self.parameters()) + (anchors.sum() if anchors is not None else 0.0)
            return hidden.sum() * 0.0 + keep * 0.0  # keeps every parameter in the graph
        hidden, relation_ids = hidden[valid], relation_ids[valid]
        if anchors is not None:
            return self._described(F.normalize(anchors, dim=-1), self.project(span_mean(hidden, positive_mask[valid])),
                                   self.project(span_mean(hidden, negative_mask[valid])), relation_ids)
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

    def _described(self, anchors: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor,
                   own: torch.Tensor) -> torch.Tensor:
        """Row i: every anchor of the batch under positive i (target: its own), then its own anchor's negatives."""
        by_anchor = positives @ anchors.T  # [B, U]
        mine = anchors[own]
        if not self.in_batch_negatives:
            negative = (mine * negatives).sum(-1, keepdim=True)
            return F.cross_entropy(torch.cat([by_anchor, negative], 1) / self.temperature, own)
        same = own[:, None] == own[None, :]
        other_positives = (mine @ positives.T).masked_fill(same, float("-inf"))  # other relations' positives
        logits = torch.cat([by_anchor, other_positives, mine @ negatives.T], 1)  # every negative of the batch
        return F.cross_entropy(logits / self.temperature, own)
