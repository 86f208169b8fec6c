"""Episodic validation: a seeded hold-out of Wiki80 relations, frozen episodes, the live backbone scored as is."""

import pytest
import torch

from tkre.data.datasets import load_split
from tkre.data.splits import HoldoutSettings, heldout_relations
from tkre.eval.validation import Validator
from tkre.models.encoder import RelationEncoder
from tkre.train.config import ValidationConfig

RELATIONS = ["country", "director", "genre", "league", "location", "occupation", "publisher", "sibling"]


def test_the_hold_out_is_seeded_and_ignores_input_order():
    first = heldout_relations(RELATIONS * 3, HoldoutSettings(3, 0))
    assert first == heldout_relations(list(reversed(RELATIONS)), HoldoutSettings(3, 0))
    assert len(first) == 3 and set(first) <= set(RELATIONS) and first == sorted(first)
    assert heldout_relations(RELATIONS, HoldoutSettings(3, 1)) != first
    with pytest.raises(ValueError, match="val.holdout: expected 0 < holdout < 8"):
        heldout_relations(RELATIONS, HoldoutSettings(8, 0))


def test_a_test_split_is_refused_before_anything_is_read():
    with pytest.raises(ValueError, match="never read a test split"):
        Validator(ValidationConfig(split="test"), RELATIONS[:5], "minilm")


def test_frozen_episodes_of_the_held_out_relations_scored_on_the_live_backbone(data_dir):
    cfg = ValidationConfig(holdout=5, limit_per_relation=10, episodes=8, k_shots=[1, 5], n_query=4)
    names = sorted({x.relation for x in load_split("wiki80", "dev", data_dir)})[:5]
    validator = Validator(cfg, names, "minilm", max_length=64)
    again = Validator(cfg, names, "minilm", max_length=64)
    assert validator.episodes == again.episodes  # the same episodes at every evaluation, in every trial
    assert {x.relation for x in validator.instances} == set(names) and len(validator.instances) == 50

    backbone = RelationEncoder("minilm", max_length=64).encoder  # a model being trained: in training mode, dropout on
    backbone.train()
    metrics = validator(backbone)
    assert set(metrics) == {"val/acc", "val/acc_5w1s", "val/acc_5w5s"}
    assert metrics["val/acc"] == pytest.approx((metrics["val/acc_5w1s"] + metrics["val/acc_5w5s"]) / 2)
    assert 20 < metrics["val/acc_5w1s"] <= 100 and metrics["val/acc_5w5s"] >= metrics["val/acc_5w1s"] - 10
    assert backbone.training  # left as it was found
    assert validator(backbone) == metrics  # deterministic: evaluation runs without dropout
    with torch.no_grad():
        backbone.embeddings.word_embeddings.weight.mul_(0.0)
    assert validator(backbone) != metrics  # it scores the weights it is given, not a copy


def test_held_out_relations_missing_from_the_split_name_the_file(data_dir):
    with pytest.raises(ValueError, match=r"wiki80/dev.json: held-out relations \['no such relation'\]"):
        Validator(ValidationConfig(), ["country", "no such relation"], "minilm")


def test_validation_relations_are_the_sweeps_held_out_corpus_relations_and_unseen_by_fewrel_val():
    from tkre.data.splits import fewrel_val_relation_names, validation_relations
    from tkre.train.config import PretrainConfig
    from tkre.train.stage import corpus_texts

    cfg = PretrainConfig(corpus="corpora/wiki80_k8_smollm2", val=ValidationConfig())
    texts, heldout = corpus_texts(cfg)
    assert validation_relations() == heldout and len(heldout) == 16
    assert not set(heldout) & fewrel_val_relation_names()
    assert not set(heldout) & {t.relation for t in texts}


def test_descriptions_change_the_validation_score(data_dir):
    names = ["architect", "composer", "developer", "occupation", "tributary"]
    cfg = ValidationConfig(limit_per_relation=10, episodes=20, k_shots=[1], n_query=4, metric="cosine", descriptions="none")
    plain = Validator(cfg, names, "minilm", max_length=64)
    described = Validator(ValidationConfig(**{**cfg.__dict__, "descriptions": "add"}), names, "minilm", max_length=64)
    assert described.texts["architect"].startswith("architect: ") and plain.texts is None
    backbone = RelationEncoder("minilm", "mean").encoder
    assert plain(backbone)["val/acc"] != described(backbone)["val/acc"]
