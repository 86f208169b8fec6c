"""Pre-training batches: masked input ids and MSLM labels, plus SCL's relation-span and negative-span masks.

Texts are tokenised once (``SpanMasker.encode``); each draw of a mask and a negative span is seeded
by (seed, epoch, example index), so a resumed run sees exactly the batches an uninterrupted one would.

Usage::

    examples = encode_texts(texts, masker, vocab)          # vocab: RelationVocab, or None for MSLM alone
    batch = collate(examples[:16], masker.mask_token_id, pad_token_id=0, seed=0, epoch=0)
    # batch: input_ids, attention_mask, labels[, positive_mask, negative_mask, relation_ids]
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from tkre.data.masking import RELATION, MaskedText, SpanMasker, mask_tokens, sample_negative_span
from tkre.data.pretrain import PretrainText
from tkre.losses.scl import RelationVocab


@dataclass(frozen=True)
class Example:
    index: int
    item: MaskedText
    relation_id: int | None


def encode_texts(texts: list[PretrainText], masker: SpanMasker, vocab: RelationVocab | None = None) -> list[Example]:
    """Tokenised examples; relation ids from ``vocab`` (an unknown relation is an error) when SCL needs them."""
    ids = vocab.ids(t.relation for t in texts) if vocab is not None else [None] * len(texts)
    return [Example(i, masker.encode(t.text, t.head, t.tail), r) for i, (t, r) in enumerate(zip(texts, ids))]


def _seed(seed: int, epoch: int, index: int) -> int:
    return (seed * 1_000_003 + epoch) * 10_000_019 + index


def collate(examples: list[Example], mask_token_id: int, pad_token_id: int, seed: int, epoch: int) -> dict:
    """Pads to the longest example; draws each example's mask (and SCL negative span) from its own seed."""
    width = max(len(x.item.input_ids) for x in examples)
    shape = (len(examples), width)
    input_ids = torch.full(shape, pad_token_id, dtype=torch.long)
    labels = torch.full(shape, -100, dtype=torch.long)
    attention_mask = torch.zeros(shape, dtype=torch.long)
    positive = torch.zeros(shape, dtype=torch.bool)
    negative = torch.zeros(shape, dtype=torch.bool)
    for row, x in enumerate(examples):
        n, s = len(x.item.input_ids), _seed(seed, epoch, x.index)
        masked, row_labels = mask_tokens(torch.tensor(x.item.input_ids), torch.tensor(x.item.probabilities),
                                         mask_token_id, torch.Generator().manual_seed(s))
        input_ids[row, :n], labels[row, :n], attention_mask[row, :n] = masked, row_labels, 1
        positive[row, :n] = torch.tensor([r == RELATION for r in x.item.regions])
        span = sample_negative_span(x.item.regions, random.Random(s))
        if span:
            negative[row, span[0] : span[1]] = True
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    if examples[0].relation_id is not None:
        batch.update(positive_mask=positive, negative_mask=negative,
                     relation_ids=torch.tensor([x.relation_id for x in examples]))
    return batch
