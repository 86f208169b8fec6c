"""Seeded N-way K-shot episode sampler (FewRel protocol), with freezing to JSONL.

Episode ``i`` is drawn from ``numpy.random.default_rng([seed, i])`` over relations sorted
by name, so it depends on (data, seed, i) alone: not on how many episodes are drawn, in
which order, or in which order the data lists its relations.

Usage::

    episodes = sample_episodes(instances, n_way=5, k_shot=1, n_query=5, episodes=1000, seed=0)
    save_episodes("val_5w1s.jsonl", episodes); episodes = load_episodes("val_5w1s.jsonl", instances)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tkre.data.instance import RelationInstance, group_by_relation
from tkre.errors import ConfigError, DataError


@dataclass(frozen=True)
class Episode:
    """Instance indices: ``support[n][k]`` for relation ``relations[n]``; ``labels[q]`` = n_way for none-of-the-above."""

    relations: list[str]
    support: list[list[int]]
    query: list[int]
    labels: list[int]


def sample_episode(
    groups: dict[str, list[int]], n_way: int, k_shot: int, n_query: int, na_rate: float, seed: int, index: int
) -> Episode:
    """One episode from relation -> instance indices; ``na_rate * n_query`` none-of-the-above queries."""
    rng = np.random.default_rng([seed, index])
    names = sorted(groups)
    chosen = [names[j] for j in rng.choice(len(names), size=n_way, replace=False)]
    support, query, labels = [], [], []
    for label, name in enumerate(chosen):
        pool = groups[name]
        picks = rng.choice(len(pool), size=k_shot + n_query, replace=False)
        support.append([pool[j] for j in picks[:k_shot]])
        query.extend(pool[j] for j in picks[k_shot:])
        labels.extend([label] * n_query)
    others = [name for name in names if name not in chosen]
    for _ in range(int(na_rate * n_query)):
        pool = groups[others[rng.integers(len(others))]]
        query.append(pool[rng.integers(len(pool))])
        labels.append(n_way)
    return Episode(chosen, support, query, labels)


def sample_episodes(
    instances: list[RelationInstance], n_way: int, k_shot: int, n_query: int, episodes: int, seed: int, na_rate: float = 0.0
) -> list[Episode]:
    """``episodes`` seeded episodes; checks the data holds enough relations and instances first."""
    groups = group_by_relation(instances)
    need_rel = n_way + (1 if na_rate > 0 else 0)
    if len(groups) < need_rel:
        raise ConfigError(f"{n_way}-way episodes{' with none-of-the-above' if na_rate > 0 else ''} need {need_rel} relations, data has {len(groups)}")
    short = {name: len(ids) for name, ids in groups.items() if len(ids) < k_shot + n_query}
    if short:
        raise ConfigError(f"relations with fewer than K+Q={k_shot + n_query} instances: {short}")
    return [sample_episode(groups, n_way, k_shot, n_query, na_rate, seed, i) for i in range(episodes)]


def episode_instances(episodes: list[Episode]) -> list[int]:
    """Sorted indices of every distinct instance the episodes use, as support or query."""
    return sorted({i for ep in episodes for ids in ep.support for i in ids} | {i for ep in episodes for i in ep.query})


def save_episodes(path: str | Path, episodes: list[Episode]) -> None:
    """Freezes episodes to JSONL, one episode a line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for ep in episodes:
            f.write(json.dumps(asdict(ep)) + "\n")


def load_episodes(path: str | Path, instances: list[RelationInstance]) -> list[Episode]:
    """Reads frozen episodes and checks every index and relation against ``instances``."""
    path = Path(path)
    episodes = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            where = f"line {lineno}"
            try:
                raw = json.loads(line)
                ep = Episode(**{k: raw[k] for k in ("relations", "support", "query", "labels")})
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise DataError(path, where, "<episode>", f"not an episode: {e}") from None
            for n, ids in enumerate(ep.support):
                for i in ids:
                    if not 0 <= i < len(instances) or instances[i].relation != ep.relations[n]:
                        raise DataError(path, where, "support", f"index {i} is not an instance of {ep.relations[n]} in this data")
            if len(ep.query) != len(ep.labels):
                raise DataError(path, where, "labels", f"{len(ep.labels)} labels for {len(ep.query)} queries")
            for i, label in zip(ep.query, ep.labels):
                if not 0 <= i < len(instances) or (label < len(ep.relations) and instances[i].relation != ep.relations[label]):
                    raise DataError(path, where, "query", f"index {i} is not an instance of label {label} in this data")
            episodes.append(ep)
    return episodes
