"""The pre-training model: MSLM alone, MSLM + SCL with the configured weights, export that loads back."""

import pytest
import torch
from torch import nn
from transformers import AutoModel, AutoModelForMaskedLM

from tkre.data.masking import MaskingRates, SpanMasker
from tkre.data.pretrain import PretrainText
from tkre.losses.scl import RelationVocab
from tkre.train.batches import collate, encode_texts
from tkre.train.config import MSLMSettings, SCLSettings
from tkre.train.model import PretrainModel

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


def test_head_warmup_trains_the_head_alone_then_the_encoder():
    from tkre.train.config import EngineSettings
    from tkre.train.engines import make_engine

    torch.manual_seed(0)
    model = PretrainModel("minilm", mslm=MSLMSettings(head_warmup_steps=2, untie_decoder=True, dropout=0.0))
    assert model.mlm.config.hidden_dropout_prob == 0.0 and model.mlm.config.attention_probs_dropout_prob == 0.0
    decoder = model.mlm.get_output_embeddings().weight
    assert decoder is not model.mlm.bert.embeddings.word_embeddings.weight
    encoder = model.encoder_parameter_names()
    assert "mlm.bert.embeddings.word_embeddings.weight" in encoder and not any(n.startswith("mlm.cls") for n in encoder)
    engine = make_engine(EngineSettings(kind="torch", lr=1e-3), model, 6, 2, torch.device("cpu"), encoder, 2)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = batch_for(model)

    def moved(names):
        return {n for n, p in model.named_parameters() if n in names and not torch.equal(p, start[n])}

    for step in range(3):
        out = engine({**batch, "step": step})
        engine.backward(out["loss"])
        engine.step()
        if step < 2:  # the warm-up: the head (with its own decoder) learns, the encoder and embeddings do not
            assert not moved(encoder)
            assert "mlm.cls.predictions.decoder.weight" in moved(set(start) - encoder)
    assert moved(encoder) and model.mlm.bert.embeddings.word_embeddings.weight.requires_grad


def test_untied_decoder_is_exported_and_loads_back_untied(tmp_path):
    model = PretrainModel("minilm", mslm=MSLMSettings(untie_decoder=True))
    with torch.no_grad():
        model.mlm.get_output_embeddings().weight[7].fill_(0.5)
    model.export(str(tmp_path / "hf"))
    loaded = AutoModelForMaskedLM.from_pretrained(tmp_path / "hf")
    assert torch.all(loaded.get_output_embeddings().weight[7] == 0.5)
    assert not torch.equal(loaded.bert.embeddings.word_embeddings.weight[7], loaded.get_output_embeddings().weight[7])


def test_description_anchors_score_unmasked_sentence_means_against_the_encoded_descriptions():
    torch.manual_seed(0)
    vocab = RelationVocab(t.relation for t in TEXTS)
    settings = SCLSettings(anchors="description", positive="mean", mslm_weight=0.5, scl_weight=2.0)
    model = PretrainModel("minilm", len(vocab), settings)
    assert not list(model.scl.parameters())
    masker = SpanMasker(model.tokenizer, markers=True)
    anchors = [model.tokenizer(text)["input_ids"] for text in ("founded by: founder", "head of government: mayor")]
    batch = collate(encode_texts(TEXTS, masker, vocab), masker.mask_token_id, 0, 0, 0, anchors, "mean")
    out = model(batch)
    assert torch.allclose(out["loss"], 0.5 * out["mslm"] + 2.0 * out["scl"])
    out["loss"].backward()
    assert model.mlm.bert.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    # the same SCL loss by hand, without dropout: unmasked sentence means against the encoded descriptions
    model.eval()
    with torch.no_grad():
        def means(ids, attention, pooled):
            hidden = model.mlm.bert(input_ids=ids, attention_mask=attention).last_hidden_state
            return nn.functional.normalize((hidden * pooled[..., None]).sum(1) / pooled.sum(1, keepdim=True), dim=-1)

        attention = batch["attention_mask"]
        positives = means(batch["clean_ids"], attention, attention)
        negatives = means(batch["clean_ids"], attention, batch["negative_mask"].long())
        described = means(batch["anchor_input_ids"], batch["anchor_attention_mask"], batch["anchor_attention_mask"])
        own = batch["anchor_index"]
        logits = torch.cat([positives @ described.T, (described[own] * negatives).sum(-1, keepdim=True)], 1) / 0.1
        assert model(batch)["scl"].item() == pytest.approx(nn.functional.cross_entropy(logits, own).item(), rel=1e-4)


def tiny_model(family, folder):
    """A small random RoBERTa or DistilBERT masked LM with MiniLM's tokenizer (the hub is offline)."""
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForMaskedLM, RobertaConfig, RobertaForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(PretrainModel("minilm").tokenizer.name_or_path)
    if family == "roberta":
        config = RobertaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=37, max_position_embeddings=130, pad_token_id=tokenizer.pad_token_id)
        RobertaForMaskedLM(config).save_pretrained(folder)
    else:
        config = DistilBertConfig(vocab_size=tokenizer.vocab_size, dim=32, n_layers=1, n_heads=2, hidden_dim=37,
                                  pad_token_id=tokenizer.pad_token_id)
        DistilBertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("family, head", [("bert", "cls"), ("roberta", "lm_head"), ("distilbert", None)])
def test_masked_lm_loss_is_the_hugging_face_loss_scored_at_the_masked_positions_only(family, head, tmp_path):
    torch.manual_seed(0)
    model = PretrainModel("minilm" if family == "bert" else tiny_model(family, tmp_path)).eval()
    assert model.head_name == head  # None: another head layout, scored by the model's own loss
    batch = batch_for(model)
    assert 0 < int((batch["labels"] != -100).sum()) < batch["labels"].numel()
    expected = model.mlm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
    assert torch.allclose(model(batch)["mslm"], expected, atol=1e-5)
