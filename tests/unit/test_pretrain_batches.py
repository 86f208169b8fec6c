"""Pre-training batches: seeded masks, padding, SCL spans from the regions, unknown relations rejected."""

import pytest
import torch
from transformers import AutoTokenizer

from tkre.data.masking import ENTITY, OTHER, RELATION, MaskingRates, SpanMasker
from tkre.data.pretrain import PretrainText
from tkre.losses.scl import RelationVocab
from tkre.models.encoder import resolve_model
from tkre.train.batches import collate, encode_texts

TEXTS = [
    PretrainText("Phoenix is governed by its mayor Greg Stanton since 2012 .", "Phoenix", "Greg Stanton",
                 "head of government", "support"),
    PretrainText("Steve Jobs started Apple in a garage in Los Altos with Steve Wozniak .", "Apple", "Steve Jobs",
                 "founded by", "explanation"),
    PretrainText("This text names neither entity .", "Tesla", "Elon Musk", "founded by", "synthetic"),
]


@pytest.fixture(scope="module")
def masker():
    return SpanMasker(AutoTokenizer.from_pretrained(resolve_model("minilm")), MaskingRates(), max_length=64)


def test_masks_are_seeded_by_seed_epoch_and_example(masker):
    examples = encode_texts(TEXTS, masker)
    a = collate(examples, masker.mask_token_id, 0, seed=1, epoch=0)
    assert torch.equal(a["input_ids"], collate(examples, masker.mask_token_id, 0, seed=1, epoch=0)["input_ids"])
    assert not torch.equal(a["labels"], collate(examples, masker.mask_token_id, 0, seed=1, epoch=1)["labels"])
    # an example's mask does not depend on its batch mates
    alone = collate(examples[1:2], masker.mask_token_id, 0, seed=1, epoch=0)
    n = alone["input_ids"].shape[1]
    assert torch.equal(alone["input_ids"][0], a["input_ids"][1, :n])
    assert "relation_ids" not in a


def test_labels_only_on_masked_tokens_and_padding_is_ignored(masker):
    examples = encode_texts(TEXTS, masker)
    batch = collate(examples, masker.mask_token_id, 0, seed=3, epoch=0)
    masked = batch["labels"] != -100
    assert (batch["input_ids"][masked] == masker.mask_token_id).all()
    original = torch.tensor(examples[0].item.input_ids)
    assert torch.equal(batch["labels"][0, : len(original)][masked[0, : len(original)]],
                       original[masked[0, : len(original)]])
    assert (batch["attention_mask"].sum(1) == torch.tensor([len(x.item.input_ids) for x in examples])).all()
    assert not masked[batch["attention_mask"] == 0].any()


def test_scl_spans_and_relation_ids(masker):
    vocab = RelationVocab(t.relation for t in TEXTS)
    examples = encode_texts(TEXTS, masker, vocab)
    batch = collate(examples, masker.mask_token_id, 0, seed=0, epoch=0)
    assert batch["relation_ids"].tolist() == [1, 0, 0]
    regions = examples[0].item.regions
    assert batch["positive_mask"][0, : len(regions)].tolist() == [r == RELATION for r in regions]
    negative = batch["negative_mask"][0, : len(regions)].nonzero().flatten().tolist()
    assert 1 <= len(negative) <= 3 and all(regions[i] == OTHER for i in negative)
    assert ENTITY not in examples[2].item.regions and not batch["positive_mask"][2].any()
    with pytest.raises(KeyError, match="'founded by' is not one of the 1 training relations"):
        encode_texts(TEXTS, masker, RelationVocab(["head of government"]))


def test_description_anchor_batches_unmasked_positives_and_entity_masking():
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    masker = SpanMasker(tokenizer, MaskingRates(), max_length=64, markers=True)
    vocab = RelationVocab(t.relation for t in TEXTS)
    examples = encode_texts(TEXTS, masker, vocab)
    anchors = [tokenizer(text)["input_ids"] for text in ("founded by: founder", "head of government: a mayor")]
    batch = collate(examples[:2], masker.mask_token_id, 0, seed=0, epoch=0, anchors=anchors, positive="mean")
    # the positive pass is the unmasked text; positives cover every attended token, as sentence-mean pooling does
    assert torch.equal(batch["clean_ids"][0, : len(examples[0].item.input_ids)], torch.tensor(examples[0].item.input_ids))
    assert torch.equal(batch["positive_mask"], batch["attention_mask"].bool())
    assert (batch["input_ids"] == masker.mask_token_id).any()
    # one description row per relation of the batch, in relation-id order; each example points at its own
    assert batch["anchor_index"].tolist() == [1, 0]
    assert torch.equal(batch["anchor_input_ids"][1, : len(anchors[1])], torch.tensor(anchors[1]))
    only = collate(examples[1:2], masker.mask_token_id, 0, seed=0, epoch=0, anchors=anchors)
    assert only["anchor_index"].tolist() == [0] and len(only["anchor_input_ids"]) == 1
    # entity masking: with chance 1 every mention token of the positive pass is masked, nothing else
    masked = collate(examples[:2], masker.mask_token_id, 0, seed=0, epoch=0, anchors=anchors, entity_mask=1.0)
    regions = examples[0].item.regions
    row = masked["clean_ids"][0, : len(regions)]
    assert [bool(t == masker.mask_token_id) for t in row] == [r == ENTITY for r in regions]
    assert torch.equal(masked["input_ids"], batch["input_ids"])  # the MSLM draw does not change
