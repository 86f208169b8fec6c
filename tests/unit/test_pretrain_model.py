"""The pre-training model: MSLM alone, MSLM + SCL with the configured weights, export that loads back."""

import pytest
import torch
from transformers import AutoModel

from tkre.data.masking import MaskingRates, SpanMasker
from tkre.data.pretrain import PretrainText
from tkre.losses.scl import RelationVocab
from tkre.train.batches import collate, encode_texts
from tkre.train.model import PretrainModel, SCLSettings

TEXTS = [
    PretrainText("Phoenix is governed by its mayor Greg Stanton since 2012 .", "Phoenix", "Greg Stanton",
                 "head of government", "support"),
    PretrainText("Steve Jobs started Apple in a garage in Los Altos .", "Apple", "Steve Jobs", "founded by", "support"),
]


def batch_for(model, vocab=None):
    masker = SpanMasker(model.tokenizer, MaskingRates(relation=1.0, entity=0.5, other=0.5))
    return collate(encode_texts(TEXTS, masker, vocab), masker.mask_token_id, model.tokenizer.pad_token_id, 0, 0)


def test_mslm_alone_and_weighted_joint_loss():
    torch.manual_seed(0)
    mslm = PretrainModel("minilm")
    out = mslm(batch_for(mslm))
    assert set(out) == {"loss", "mslm"} and out["loss"].item() > 0
    vocab = RelationVocab(t.relation for t in TEXTS)
    joint = PretrainModel("minilm", len(vocab), SCLSettings(temperature=0.1, mslm_weight=0.5, scl_weight=2.0))
    joint.mlm.load_state_dict(mslm.mlm.state_dict())
    out = joint(batch_for(joint, vocab))
    assert torch.allclose(out["loss"], 0.5 * out["mslm"] + 2.0 * out["scl"])
    out["loss"].backward()
    assert joint.scl.anchors.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="num_relations"):
        PretrainModel("minilm", 0, SCLSettings())


def test_export_is_a_hugging_face_folder_with_the_trained_weights(tmp_path):
    model = PretrainModel("minilm")
    with torch.no_grad():
        model.mlm.bert.embeddings.word_embeddings.weight[5].fill_(0.25)
    model.export(str(tmp_path / "hf"))
    loaded = AutoModel.from_pretrained(tmp_path / "hf")
    assert torch.all(loaded.embeddings.word_embeddings.weight[5] == 0.25)
    assert (tmp_path / "hf" / "tokenizer.json").exists()


def test_pretraining_runs_with_dropout():
    # from_pretrained returns the encoder in eval mode; the pre-training model switches it to training
    model = PretrainModel("minilm")
    assert model.training and model.mlm.training and model.mlm.bert.encoder.layer[0].attention.self.training
    batch = batch_for(model)
    torch.manual_seed(0)
    first = model(batch)["mslm"]
    assert not torch.equal(first, model(batch)["mslm"])  # dropout draws differ between two passes
