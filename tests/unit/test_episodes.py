import json
import random

import pytest

from tkre.data.episodes import load_episodes, sample_episode, sample_episodes, save_episodes
from tkre.data.instance import RelationInstance, group_by_relation
from tkre.errors import DataError


def toy(relations=8, per_relation=12, reverse=False):
    names = [f"R{r}" for r in range(relations)]
    if reverse:
        names = names[::-1]
    return [RelationInstance((f"{n}-{i}", "x"), (0, 1), (1, 2), n) for n in names for i in range(per_relation)]


def as_text(instances, episodes):
    """Episodes as instance contents, independent of list positions."""
    return [([[instances[i].tokens for i in ids] for ids in ep.support], [instances[i].tokens for i in ep.query], ep.labels)
            for ep in episodes]


def test_same_seed_same_episodes_other_seed_differs():
    data = toy()
    a = sample_episodes(data, 5, 2, 3, 20, seed=0)
    assert a == sample_episodes(data, 5, 2, 3, 20, seed=0)
    assert a != sample_episodes(data, 5, 2, 3, 20, seed=1)


def test_episode_shape_and_labels():
    data = toy()
    for ep in sample_episodes(data, 5, 2, 3, 10, seed=0, na_rate=1.0):
        assert len(ep.relations) == len(set(ep.relations)) == 5
        assert all(len(ids) == 2 for ids in ep.support)
        assert len(ep.query) == 5 * 3 + 3 and ep.labels[-3:] == [5, 5, 5]
        for n, ids in enumerate(ep.support):
            assert all(data[i].relation == ep.relations[n] for i in ids)
        for i, label in zip(ep.query, ep.labels):
            assert (data[i].relation == ep.relations[label]) if label < 5 else data[i].relation not in ep.relations
        in_support = {i for ids in ep.support for i in ids}
        assert not in_support & set(ep.query[:15])


def test_episode_i_depends_only_on_seed_and_i():
    data = toy()
    many = sample_episodes(data, 5, 1, 2, 30, seed=7)
    groups = group_by_relation(data)
    for i in random.Random(0).sample(range(30), 10):  # any order, alone
        assert sample_episode(groups, 5, 1, 2, 0.0, 7, i) == many[i]
    assert sample_episodes(data, 5, 1, 2, 10, seed=7) == many[:10]


def test_independent_of_the_order_relations_are_listed():
    forward, backward = toy(), toy(reverse=True)
    assert as_text(forward, sample_episodes(forward, 5, 2, 2, 20, 3)) == as_text(backward, sample_episodes(backward, 5, 2, 2, 20, 3))


def test_not_enough_data_is_a_clear_error():
    with pytest.raises(ValueError, match="need 10 relations"):
        sample_episodes(toy(relations=8), 10, 1, 1, 1, 0)
    with pytest.raises(ValueError, match="fewer than K\\+Q=15"):
        sample_episodes(toy(per_relation=12), 5, 5, 10, 1, 0)


def test_freeze_and_reload(tmp_path):
    data = toy()
    episodes = sample_episodes(data, 5, 2, 3, 15, seed=0, na_rate=0.5)
    path = tmp_path / "eps.jsonl"
    save_episodes(path, episodes)
    assert load_episodes(path, data) == episodes
    lines = path.read_text().splitlines()
    bad = json.loads(lines[4])
    bad["support"][0][0] = bad["support"][1][0]  # an instance of another relation
    path.write_text("\n".join(lines[:4] + [json.dumps(bad)] + lines[5:]) + "\n")
    with pytest.raises(DataError, match="line 5.*'support'"):
        load_episodes(path, data)
