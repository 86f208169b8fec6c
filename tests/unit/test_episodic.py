import torch

from tkre.data.episodes import sample_episodes
from tkre.data.instance import RelationInstance
from tkre.eval.episodic import evaluate_episode_sets, evaluate_episodes
from tkre.models.scoring import ScoringSettings


class RelationOneHot:
    """An encoder whose embedding is its relation's one-hot vector, plus a record of what it encoded."""

    def __init__(self, names, noisy=()):
        self.index = {n: i for i, n in enumerate(names)}
        self.noisy = set(noisy)
        self.calls = []

    def encode(self, instances, batch_size=64, progress=True):
        self.calls.append(list(instances))
        out = torch.zeros(len(instances), len(self.index))
        for row, inst in enumerate(instances):
            # odd-numbered instances of a "noisy" relation point away from it
            sign = -1.0 if inst.relation in self.noisy and inst.tokens[1] == "q" else 1.0
            out[row, self.index[inst.relation]] = sign
        return out

    def encode_texts(self, texts, batch_size=64):
        """A description names its relation: ``"R3: ..."`` -> R3's one-hot vector."""
        self.calls.append(list(texts))
        out = torch.zeros(len(texts), len(self.index))
        for row, text in enumerate(texts):
            out[row, self.index[text.split(":")[0]]] = 1.0
        return out


def toy(relations=10, per_relation=10):
    return [RelationInstance((f"R{r}-{i}", "q" if i % 2 else "s"), (0, 1), (1, 2), f"R{r}") for r in range(relations)
            for i in range(per_relation)]


def test_each_distinct_instance_is_encoded_once_across_sets():
    data = toy()
    sets = {"5-1": sample_episodes(data, 5, 1, 3, 200, 0), "10-2": sample_episodes(data, 10, 2, 3, 100, 1)}
    encoder = RelationOneHot(sorted({x.relation for x in data}))
    results = evaluate_episode_sets(encoder, data, sets, ScoringSettings(metric="euclidean"), progress=False)
    assert len(encoder.calls) == 1
    encoded = encoder.calls[0]
    assert len(encoded) == len({id(x) for x in encoded}) == results["5-1"]["unique_instances"] == len(data)
    assert results["5-1"]["accuracy"] == results["10-2"]["accuracy"] == 1.0
    assert (results["10-2"]["n_way"], results["10-2"]["k_shot"], results["10-2"]["episodes"]) == (10, 2, 100)


def test_accuracy_and_interval_follow_the_misclassified_queries():
    data = toy()
    names = sorted({x.relation for x in data})
    episodes = sample_episodes(data, 5, 1, 4, 300, 0)
    result = evaluate_episodes(RelationOneHot(names, noisy={"R0"}), data, episodes, ScoringSettings(metric="euclidean"),
                               progress=False)
    expected = []  # per episode: an R0 query is wrong when its sign differs from its 1-shot support's
    for ep in episodes:
        signs = {data[ids[0]].relation: data[ids[0]].tokens[1] for ids in ep.support}
        wrong = sum(1 for i in ep.query if data[i].relation == "R0" and data[i].tokens[1] != signs["R0"])
        expected.append(1 - wrong / len(ep.query))
    assert min(expected) < 1  # the noise shows
    assert abs(result["accuracy"] - sum(expected) / len(expected)) < 1e-6
    assert 0 < result["ci95"] < 0.05


def test_descriptions_are_encoded_once_and_score_zero_shot_episodes():
    data = toy()
    names = sorted({x.relation for x in data})
    texts = {n: f"{n}: the relation {n}" for n in names}
    sets = {"5-0": sample_episodes(data, 5, 0, 3, 100, 0), "10-0": sample_episodes(data, 10, 0, 3, 100, 0)}
    encoder = RelationOneHot(names, noisy={"R0"})
    results = evaluate_episode_sets(encoder, data, sets, ScoringSettings(metric="cosine"), texts, progress=False)
    assert encoder.calls[1] == [texts[n] for n in names]  # one call, each relation once
    assert len(encoder.calls) == 2
    assert results["5-0"]["k_shot"] == 0
    wrong = sum(1 for ep in sets["5-0"] for i in ep.query if data[i].relation == "R0" and data[i].tokens[1] == "q")
    total = sum(len(ep.query) for ep in sets["5-0"])
    assert abs(results["5-0"]["accuracy"] - (1 - wrong / total)) < 1e-6  # only the flipped R0 queries miss


def test_description_modes_follow_the_prototype_rule():
    data = toy()
    names = sorted({x.relation for x in data})
    following = {n: names[(i + 1) % len(names)] for i, n in enumerate(names)}
    wrong_texts = {n: f"{following[n]}: the next relation's text" for n in names}  # each describes the next one
    episodes = sample_episodes(data, 5, 1, 3, 100, 0)
    encoder = RelationOneHot(names)

    def run(texts=None, **scoring):
        return evaluate_episodes(encoder, data, episodes, ScoringSettings(metric="cosine", **scoring), texts,
                                 progress=False)["accuracy"]

    # a query of relation r is pulled to the relation described as r, when that one is in the episode
    pulled = sum(1 for ep in episodes for i in ep.query
                 if any(following[n] == data[i].relation for n in ep.relations)) / sum(len(ep.query) for ep in episodes)
    assert 0.2 < pulled < 0.8
    assert run() == 1.0
    assert run(wrong_texts, descriptions="add", description_weight=0.5) == 1.0  # support outweighs
    assert abs(run(wrong_texts, descriptions="add", description_weight=2.0) - (1 - pulled)) < 1e-6
    assert run(wrong_texts, descriptions="only") < 1 - pulled  # the correct support is ignored
