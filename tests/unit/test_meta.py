"""Prototypical meta-training: episode batches, the loss against a per-instance reference, learning."""

import pytest
import torch

from tkre.data.episodes import sample_episodes
from tkre.data.instance import RelationInstance
from tkre.models.encoder import RelationEncoder
from tkre.train.config import EngineSettings
from tkre.train.engines import make_engine
from tkre.train.meta import PrototypicalModel, episode_batch

WORDS = {"born_in": "was born in", "capital_of": "is the capital of", "member_of": "plays for", "author_of": "wrote"}


def sentences():
    heads, tails = ["Anna", "Boris", "Chen", "Dara", "Emil"], ["Paris", "Lima", "Oslo", "Rome", "Kyiv"]
    out = []
    for relation, words in WORDS.items():
        for h, t in zip(heads, tails):
            tokens = (h, *words.split(), t, ".")
            out.append(RelationInstance(tokens, (0, 1), (len(tokens) - 2, len(tokens) - 1), relation))
    return out


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return PrototypicalModel(RelationEncoder("minilm", "mean", max_length=32), "euclidean")


def test_a_batch_holds_every_support_instance_then_every_query(model):
    data = sentences()
    features = model.encoder.featurize(data)
    episodes = sample_episodes(data, 3, 2, 2, 2, seed=1)
    batch = episode_batch(model.encoder, features, episodes)
    order = [i for ep in episodes for shots in ep.support for i in shots] + [i for ep in episodes for i in ep.query]
    for row, i in enumerate(order):
        n = len(features[i].input_ids)
        assert batch["input_ids"][row, :n].tolist() == features[i].input_ids
    assert batch["labels"].tolist() == [ep.labels for ep in episodes]
    assert (int(batch["n_way"]), int(batch["k_shot"])) == (3, 2)
    with pytest.raises(ValueError, match="share N, K"):
        episode_batch(model.encoder, features, [episodes[0], sample_episodes(data, 2, 2, 2, 1, seed=2)[0]])


def test_the_loss_is_cross_entropy_over_squared_distances_to_the_prototypes(model):
    data = sentences()
    features = model.encoder.featurize(data)
    episodes = sample_episodes(data, 4, 2, 3, 2, seed=3)
    model.eval()
    out = model(episode_batch(model.encoder, features, episodes))
    losses, correct = [], []
    for ep in episodes:  # the reference: one instance at a time
        embed = lambda i: model.encoder(model.encoder.collate([features[i]]))[0]
        prototypes = torch.stack([torch.stack([embed(i) for i in shots]).mean(0) for shots in ep.support])
        for i, label in zip(ep.query, ep.labels):
            scores = -((embed(i) - prototypes) ** 2).sum(-1)
            losses.append(torch.nn.functional.cross_entropy(scores[None], torch.tensor([label])))
            correct.append(float(scores.argmax() == label))
    assert torch.allclose(out["loss"], torch.stack(losses).mean(), atol=1e-4)
    assert out["accuracy"].item() == pytest.approx(sum(correct) / len(correct))


def test_training_on_episodes_lowers_the_loss():
    torch.manual_seed(0)
    model = PrototypicalModel(RelationEncoder("minilm", "mean", max_length=32), "euclidean")
    data = sentences()
    batch = episode_batch(model.encoder, model.encoder.featurize(data), sample_episodes(data, 4, 1, 4, 2, seed=4))
    engine = make_engine(EngineSettings(kind="torch", lr=1e-4, warmup_ratio=0.0), model, 8, 2, torch.device("cpu"))
    model.eval()  # no dropout: the same batch gives the same loss
    first = model(batch)["loss"].item()
    for _ in range(8):
        engine.backward(engine(batch)["loss"])
        engine.step()
    assert model(batch)["loss"].item() < 0.5 * first


def test_description_batches_hold_each_relation_once_and_the_drop_mask(model):
    data = sentences()
    features = model.encoder.featurize(data)
    episodes = sample_episodes(data, 3, 1, 2, 2, seed=5)
    texts = {r: f"{r.replace('_', ' ')}: {w}" for r, w in WORDS.items()}
    described = [[True, False, True], [False, False, True]]
    batch = episode_batch(model.encoder, features, episodes, texts, described)
    relations = sorted({r for ep in episodes for r in ep.relations})
    assert batch["desc_input_ids"].size(0) == len(relations)
    for e, ep in enumerate(episodes):
        for n, r in enumerate(ep.relations):
            row = batch["desc_index"][e, n]
            ids = batch["desc_input_ids"][row][batch["desc_attention_mask"][row].bool()].tolist()
            assert ids == model.encoder.tokenizer(texts[r])["input_ids"]
    assert batch["described"].tolist() == described
    assert "desc_input_ids" not in episode_batch(model.encoder, features, episodes)


def test_cosine_description_loss_matches_a_per_instance_reference():
    torch.manual_seed(0)
    model = PrototypicalModel(RelationEncoder("minilm", "mean", max_length=32), "cosine", description_weight=0.5,
                              scale=10.0)
    data = sentences()
    features = model.encoder.featurize(data)
    episodes = sample_episodes(data, 3, 2, 2, 2, seed=6)
    texts = {r: f"{r.replace('_', ' ')}: {w}" for r, w in WORDS.items()}
    described = [[True, False, True], [True, True, False]]
    model.eval()
    out = model(episode_batch(model.encoder, features, episodes, texts, described))
    unit = torch.nn.functional.normalize
    losses = []
    for e, ep in enumerate(episodes):
        embed = lambda i: unit(model.encoder(model.encoder.collate([features[i]]))[0], dim=0)
        protos = []
        for n, shots in enumerate(ep.support):
            mean = unit(torch.stack([embed(i) for i in shots]).mean(0), dim=0)
            text = unit(model.encoder.embed_texts(model.encoder.text_batch([texts[ep.relations[n]]]))[0], dim=0)
            protos.append((2 * mean + 0.5 * text) / 2.5 if described[e][n] else mean)  # K = 2
        protos = unit(torch.stack(protos), dim=-1)
        for i, label in zip(ep.query, ep.labels):
            scores = 10.0 * protos @ embed(i)
            losses.append(torch.nn.functional.cross_entropy(scores[None], torch.tensor([label])))
    assert torch.allclose(out["loss"], torch.stack(losses).mean(), atol=1e-4)
    assert out["scale"].item() == pytest.approx(10.0)


def test_a_learned_scale_is_trained_and_a_fixed_one_is_not():
    data = sentences()
    for learn in (True, False):
        torch.manual_seed(0)
        model = PrototypicalModel(RelationEncoder("minilm", "mean", max_length=32), "cosine", scale=5.0, learn_scale=learn)
        batch = episode_batch(model.encoder, model.encoder.featurize(data), sample_episodes(data, 4, 1, 4, 2, seed=4))
        engine = make_engine(EngineSettings(kind="torch", lr=1e-2, warmup_ratio=0.0), model, 3, 2, torch.device("cpu"))
        for _ in range(3):
            engine.backward(engine(batch)["loss"])
            engine.step()
        assert (model.log_scale.exp().item() != pytest.approx(5.0)) == learn
