"""Batch prediction speed: Ray Data with an actor pool against the single-process encode floor, in one run.

The queries are FewRel val sentences written as user records (text with character offsets), the
support 2 sentences of each of the 16 relations. (a) floor: one process encodes every query once
with all its threads; (b) ``predict_on_ray``: read the JSON-lines file, check every record, score
it on ``--actors`` actors (1 CPU each, the encoder and prototypes loaded once per actor) and write
JSON-lines parts; timed from after ``ray.init`` to the last part written, actor start-up included.
Last stdout line: one JSON object with ``sentences_per_s`` (b), ``sentences_per_s_floor`` (a) and
``ratio`` = b / a.

Usage: ``python benchmarks/predict_throughput.py [--sentences 11200 --actors 2 --batch-size 512]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from tkre.data.datasets import load_split, relation_schemas
from tkre.data.records import instance_record
from tkre.launch.session import init_ray, stop_ray
from tkre.predict.batch import BatchSettings, Predictor, predict_on_ray
from tkre.predict.fewshot import FewShotRelationClassifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=11_200, help="at most all of FewRel val but the support")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=BatchSettings.batch_size, help="records per actor call")
    parser.add_argument("--model", default="minilm")
    args = parser.parse_args()

    instances = load_split("fewrel", "val")
    support, seen = [], {}
    for x in instances:
        if seen.get(x.relation, 0) < 2:
            support.append(x)
            seen[x.relation] = seen.get(x.relation, 0) + 1
    chosen = set(map(id, support))
    query_instances = [x for x in instances if id(x) not in chosen][: args.sentences]
    queries = [instance_record(x, id=i) for i, x in enumerate(query_instances)]
    texts = {r: s.text for r, s in relation_schemas(set(seen), "fewrel").items()}
    clf = FewShotRelationClassifier.from_pretrained(args.model, device="cpu").fit(support, texts)

    torch.set_num_threads(os.cpu_count() or 1)
    start = time.perf_counter()
    clf.encoder.encode(query_instances)
    floor_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory(prefix="tkre-bench-") as scratch:
        source = Path(scratch) / "queries.jsonl"
        source.write_text("".join(json.dumps(q) + "\n" for q in queries))
        init_ray()
        start = time.perf_counter()
        predict_on_ray(Predictor(args.model, clf.relations, clf.prototypes, {}), str(source), str(Path(scratch) / "out"),
                       BatchSettings(actors=args.actors, batch_size=args.batch_size))
        ray_s = time.perf_counter() - start
        written = sum(len(p.read_text().splitlines()) for p in (Path(scratch) / "out").glob("*.jsonl"))
        stop_ray()
    assert written == len(queries), (written, len(queries))
    result = {"benchmark": "predict_throughput", "sentences": len(queries), "actors": args.actors,
              "batch_size": args.batch_size, "model": args.model, "seconds_floor": round(floor_s, 2),
              "seconds": round(ray_s, 2), "sentences_per_s_floor": round(len(queries) / floor_s, 1),
              "sentences_per_s": round(len(queries) / ray_s, 1), "ratio": round(floor_s / ray_s, 3),
              "cpus": os.cpu_count(), "machine": platform.machine()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
