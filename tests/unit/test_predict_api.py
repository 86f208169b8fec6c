import pytest

from tkre.data.datasets import limit_per_relation, load_split, relation_schemas
from tkre.data.episodes import sample_episodes
from tkre.errors import ConfigError, DataError
from tkre.eval.episodic import evaluate_episodes
from tkre.models.scoring import ScoringSettings
from tkre.predict.fewshot import FewShotRelationClassifier, InferenceSettings


@pytest.fixture(scope="module")
def fewrel(data_dir):
    instances = limit_per_relation(load_split("fewrel", "val", data_dir), 12)
    texts = {r: s.text for r, s in relation_schemas({x.relation for x in instances}, "fewrel", data_dir).items()}
    return instances, texts


@pytest.mark.parametrize("k_shot", [1, 0])
def test_the_api_scores_episodes_as_the_episodic_evaluator_does(fewrel, encoders, k_shot):
    instances, texts = fewrel
    episodes = sample_episodes(instances, 5, k_shot, 3, 12, seed=0)
    expected = evaluate_episodes(encoders["mean"], instances, episodes, ScoringSettings(), texts,
                                 progress=False)["per_episode"]
    clf = FewShotRelationClassifier(encoders["mean"], InferenceSettings())
    got = []
    for ep in episodes:
        support = [instances[i] for shots in ep.support for i in shots]
        clf.fit(support, {r: texts[r] for r in ep.relations})
        predicted = [p["relation"] for p in clf.predict([instances[i] for i in ep.query])]
        got.append(sum(p == ep.relations[label] for p, label in zip(predicted, ep.labels)) / len(ep.query))
    assert got == pytest.approx(expected, abs=1e-6)  # per-episode accuracies are kept to 6 decimals
    assert 0.3 < sum(got) / len(got) < 1.0  # MiniLM as is: well above chance (0.2), not perfect


def test_records_top_k_and_none_of_the_above():
    clf = FewShotRelationClassifier.from_pretrained("minilm", device="cpu")
    support = [{"text": "Steve Jobs founded Apple.", "h": {"pos": [19, 24]}, "t": {"pos": [0, 10]}, "relation": "founded by"},
               {"text": "Paris is the capital of France.", "h": {"pos": [24, 30]}, "t": {"pos": [0, 5]}, "relation": "capital"}]
    clf.fit(support, {"spouse": "spouse: the subject has the object as husband or wife"})
    assert clf.relations == ["capital", "founded by", "spouse"]  # spouse: by its description alone
    query = {"text": "Larry Page founded Google.", "h": {"pos": [19, 25]}, "t": {"pos": [0, 10]}}
    [p] = clf.predict([query], top_k=3)
    assert [t["score"] for t in p["top_k"]] == sorted((t["score"] for t in p["top_k"]), reverse=True)
    assert p["relation"] == p["top_k"][0]["relation"] and p["score"] == p["top_k"][0]["score"]
    assert {t["relation"] for t in p["top_k"]} == set(clf.relations)
    [nota] = clf.predict([query], threshold=p["score"] + 1e-3)
    assert nota["relation"] is None and nota["top_k"][0] == p["top_k"][0]
    with pytest.raises(DataError, match=r"queries: record 0: field 't'"):
        clf.predict([{"text": "x y", "h": {"pos": [0, 1]}}])
    with pytest.raises(ConfigError, match="call fit first"):
        FewShotRelationClassifier(clf.encoder, clf.settings).predict([query])


def test_a_threshold_outside_the_range_of_the_scores_is_refused():
    from tkre.predict.batch import Predictor

    Predictor("m", ["a"], metric="cosine").check_threshold(0.5)
    Predictor("m", ["a"], metric="dot").check_threshold(50.0)
    Predictor("m", ["a"]).check_threshold(None)
    for predictor, threshold, problem in ((Predictor("m", ["a"], metric="cosine"), 2.0, r"\[-1.0, 1.0\], the range of cosine scores"),
                                          (Predictor("m", ["a"], metric="euclidean"), 0.5, r"\[-inf, 0.0\], the range of euclidean"),
                                          (Predictor("m", ["a"]), -0.1, r"\[0.0, 1.0\], the range of a kept classifier")):
        with pytest.raises(ConfigError, match=rf"--threshold {threshold}: outside {problem}"):
            predictor.check_threshold(threshold)
