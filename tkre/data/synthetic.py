"""Task-oriented fine-tuning data (the paper's part c): a K-shot training set plus a synthesis output's
accepted instances of the task's relations.

At most ``per_relation`` synthetic instances join each relation (the first ones, in the order the
synthesis wrote them; the reference adds 8). Dev and test are never touched, and a synthetic
instance is refused, and counted by reason, when it fails the corpus hygiene (``tkre.data.quality``),
is not of one of the task's relations, copies a dev or test sentence, or is over the cap.

Usage::

    synthetic = read_synthesis("runs/synth_semeval_k8").synthetic      # tkre.data.pretrain
    task, counts = add_synthetic(load_kshot("semeval", 8, 13), synthetic, per_relation=8)
    counts   # {"added": 21, "per_relation": {"Cause-Effect(e1,e2)": 2, ...}, "refused": {"over the cap": 3}}
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from tkre.data.datasets import KShotTask
from tkre.data.instance import RelationInstance
from tkre.data.quality import entity_problem
from tkre.data.splits import sentence_key


def add_synthetic(task: KShotTask, synthetic: list[RelationInstance], per_relation: int) -> tuple[KShotTask, dict]:
    """``task`` with up to ``per_relation`` synthetic instances per relation appended to its training set,
    and what was added and refused."""
    evaluation = {sentence_key(x) for x in task.dev + task.test}
    added, per, refused = [], Counter(), Counter()
    for inst in synthetic:
        problem = entity_problem(inst.tokens, inst.head, inst.tail)
        if problem:
            refused[f"hygiene: {problem}"] += 1
        elif inst.relation not in task.label2id:
            refused["not a relation of the task"] += 1
        elif sentence_key(inst) in evaluation:
            refused["copies a dev or test sentence"] += 1
        elif per[inst.relation] >= per_relation:
            refused["over the cap"] += 1
        else:
            per[inst.relation] += 1
            added.append(inst)
    counts = {"added": len(added), "per_relation": dict(sorted(per.items())), "refused": dict(sorted(refused.items()))}
    return dataclasses.replace(task, train=task.train + added), counts
