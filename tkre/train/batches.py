"""Pre-training batches: masked input ids and MSLM labels, plus SCL's relation-span and negative-span masks.

Texts are tokenised once (``SpanMasker.encode``); each draw of a mask, a negative span and an
entity masking is seeded by (seed, epoch, example index), so a resumed run sees exactly the batches
an uninterrupted one would. For SCL's description anchors (``anchors``: each relation id's
tokenised description) the batch also holds the unmasked input (``clean_ids``, its mentions masked
with chance ``entity_mask``), the descriptions of the relations in it and each example's row among them.

Usage::

    examples = encode_texts(texts, masker, vocab)          # vocab: RelationVocab, or None for MSLM alone
    batch = collate(examples[:16], masker.mask_token_id, pad_token_id=0, seed=0, epoch=0)
    # batch: input_ids, attention_mask, labels[, positive_mask, negative_mask, relation_ids]
    batch = collate(examples[:16], masker.mask_token_id, 0, 0, 0, anchors=ids, positive="mean", entity_mask=0.7)
    # ... + clean_ids, anchor_input_ids, anchor_attention_mask, anchor_index
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from tkre.data.masking import ENTITY, RELATION, MaskedText, SpanMasker, sample_negative_span
from tkre.data.pretrain import PretrainText
from tkre.losses.scl import RelationVocab


@dataclass(frozen=True)
class Example:
    index: int
    item: MaskedText
    relation_id: int | None


def mask_tokens(input_ids: torch.Tensor, probabilities: torch.Tensor, mask_token_id: int,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draws the mask: chosen tokens become ``mask_token_id``; labels hold the original id there and -100 elsewhere."""
    chosen = torch.bernoulli(probabilities, generator=generator).bool()
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    return torch.where(chosen, torch.full_like(input_ids, mask_token_id), input_ids), labels


def encode_texts(texts: list[PretrainText], masker: SpanMasker, vocab: RelationVocab | None = None) -> list[Example]:
    """Tokenised examples; relation ids from ``vocab`` (an unknown relation is an error) when SCL needs them."""
    ids = vocab.ids(t.relation for t in texts) if vocab is not None else [None] * len(texts)
    return [Example(i, masker.encode(t.text, t.head, t.tail), r) for i, (t, r) in enumerate(zip(texts, ids))]


def _seed(seed: int, epoch: int, index: int) -> int:
    return (seed * 1_000_003 + epoch) * 10_000_019 + index


def padded(rows: list[list[int]], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id rows padded to the longest: ``(input_ids, attention_mask)``."""
    ids = torch.full((len(rows), max(map(len, rows))), pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, : len(row)], mask[i, : len(row)] = torch.tensor(row), 1
    return ids, mask


def collate(examples: list[Example], mask_token_id: int, pad_token_id: int, seed: int, epoch: int,
            anchors: list[list[int]] | None = None, positive: str = "span", entity_mask: float = 0.0) -> dict:
    """Pads to the longest example; draws each example's mask (and SCL negative span) from its own seed.

    ``positive``: the SCL positive covers the relation span, or every attended token (``mean``).
    """
    input_ids, attention_mask = padded([x.item.input_ids for x in examples], pad_token_id)
    clean_ids = input_ids.clone()
    labels = torch.full(input_ids.shape, -100, dtype=torch.long)
    positives = torch.zeros(input_ids.shape, dtype=torch.bool)
    negatives = torch.zeros(input_ids.shape, dtype=torch.bool)
    for row, x in enumerate(examples):
        n, s = len(x.item.input_ids), _seed(seed, epoch, x.index)
        masked, row_labels = mask_tokens(torch.tensor(x.item.input_ids), torch.tensor(x.item.probabilities),
                                         mask_token_id, torch.Generator().manual_seed(s))
        input_ids[row, :n], labels[row, :n] = masked, row_labels
        positives[row, :n] = True if positive == "mean" else torch.tensor([r == RELATION for r in x.item.regions])
        rng = random.Random(s)
        span = sample_negative_span(x.item.regions, rng)
        if span:
            negatives[row, span[0] : span[1]] = True
        if entity_mask and rng.random() < entity_mask:
            clean_ids[row, :n][torch.tensor([r == ENTITY for r in x.item.regions])] = mask_token_id
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    if examples[0].relation_id is not None:
        relation_ids = torch.tensor([x.relation_id for x in examples])
        batch.update(positive_mask=positives, negative_mask=negatives, relation_ids=relation_ids)
        if anchors is not None:
            present, index = torch.unique(relation_ids, return_inverse=True)
            anchor_ids, anchor_mask = padded([anchors[i] for i in present.tolist()], pad_token_id)
            batch.update(clean_ids=clean_ids, anchor_input_ids=anchor_ids, anchor_attention_mask=anchor_mask,
                         anchor_index=index)
    return batch
