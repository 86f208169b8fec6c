"""Episodic evaluation speed: encode-once evaluator vs the floor and vs per-episode re-encoding.

(a) floor: encode each distinct instance of the evaluation once; (b) our evaluator: sample the
episodes, encode every distinct instance and every relation description once, classify all
episodes; (c) the FewRel toolkit's way: encode each episode's support, query and descriptions
anew (timed on a sample of episodes, scaled to all). By default the chosen protocol: sentence-mean
pooling, cosine, description prototypes.
Last stdout line: one JSON object with ``ratio_to_floor`` = b/a and ``speedup_vs_per_episode`` = c/b.

Usage: ``python benchmarks/episodic_eval.py [--episodes 10000 --sample 100 --model minilm]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from tkre.data.datasets import limit_per_relation, load_split, relation_schemas
from tkre.data.episodes import episode_instances, sample_episodes
from tkre.eval.episodic import evaluate_episodes
from tkre.models.encoder import RelationEncoder, default_device
from tkre.models.prototype import predict, prototype_scores, prototypes
from tkre.models.scoring import METRICS, ScoringSettings


def per_episode_accuracy(encoder: RelationEncoder, instances, episodes, metric: str, texts: dict | None) -> list[float]:
    """The reference: every episode encodes its support, its query and its descriptions as fresh batches."""
    accuracies = []
    for ep in episodes:
        n_way, k_shot = len(ep.support), len(ep.support[0])
        support = encoder.encode([instances[i] for ids in ep.support for i in ids], progress=False)
        query = encoder.encode([instances[i] for i in ep.query], progress=False)
        described = encoder.encode_texts([texts[r] for r in ep.relations]).unsqueeze(0) if texts else None
        protos = prototypes(support.view(1, n_way, k_shot, -1), metric, described)
        pred = predict(prototype_scores(protos, query.unsqueeze(0), metric))[0]
        accuracies.append((pred == torch.tensor(ep.labels)).float().mean().item())
    return accuracies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--n-way", type=int, default=5)
    parser.add_argument("--k-shot", type=int, default=1)
    parser.add_argument("--n-query", type=int, default=5)
    parser.add_argument("--sample", type=int, default=100, help="episodes timed for the per-episode reference")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--pooling", default="mean")
    parser.add_argument("--metric", default="cosine", choices=METRICS)
    parser.add_argument("--descriptions", default="add", choices=("none", "add"))
    parser.add_argument("--limit-per-relation", type=int)
    args = parser.parse_args()

    instances = limit_per_relation(load_split("fewrel", "val"), args.limit_per_relation)
    texts = None
    if args.descriptions == "add":
        texts = {r: s.text for r, s in relation_schemas({x.relation for x in instances}, "fewrel").items()}
    scoring = ScoringSettings(args.pooling, args.metric, args.descriptions)
    encoder = RelationEncoder(args.model, args.pooling).to(default_device())
    encoder.encode(instances[:64], progress=False)  # warm-up

    episodes = sample_episodes(instances, args.n_way, args.k_shot, args.n_query, args.episodes, seed=0)
    used = episode_instances(episodes)
    start = time.perf_counter()
    encoder.encode([instances[i] for i in used])
    floor = time.perf_counter() - start

    start = time.perf_counter()  # (b) includes sampling: the same episodes drawn again, now timed
    episodes = sample_episodes(instances, args.n_way, args.k_shot, args.n_query, args.episodes, seed=0)
    result = evaluate_episodes(encoder, instances, episodes, scoring, texts)
    ours = time.perf_counter() - start

    sample = [episodes[i] for i in np.random.default_rng(0).choice(len(episodes), args.sample, replace=False)]
    start = time.perf_counter()
    reference = per_episode_accuracy(encoder, instances, sample, args.metric, texts)
    per_episode = (time.perf_counter() - start) * len(episodes) / len(sample)
    ours_on_sample = evaluate_episodes(encoder, instances, sample, scoring, texts, progress=False)["accuracy"]

    print(json.dumps({
        "benchmark": "episodic_eval",
        "model": args.model,
        "pooling": args.pooling,
        "metric": args.metric,
        "descriptions": args.descriptions,
        "episodes": len(episodes),
        "setting": f"{args.n_way}-way {args.k_shot}-shot, {args.n_query} queries per relation",
        "unique_instances": len(used),
        "floor_seconds": round(floor, 2),
        "evaluator_seconds": round(ours, 2),
        "per_episode_seconds_estimated": round(per_episode, 1),
        "per_episode_sample": len(sample),
        "ratio_to_floor": round(ours / floor, 4),
        "speedup_vs_per_episode": round(per_episode / ours, 2),
        "accuracy": result["accuracy"],
        "reference_accuracy_on_sample": sum(reference) / len(reference),
        "evaluator_accuracy_on_sample": ours_on_sample,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, {torch.get_num_threads()} threads",
    }))


if __name__ == "__main__":
    main()
