"""Every relation split, in one place: FewRel val's relations, the held-out validation relations, K-shot
support sets, and what keeps data disjoint from evaluation.

- FewRel val is the test: its relations (named through ``pid2name.json``) are kept out of training.
- The validation relations choose every setting: a seeded draw (``HoldoutSettings``) of the Wiki80
  relations disjoint from FewRel val. Pre-training leaves them out of its corpus, meta-training out
  of its data, and eval's ``relations: validation`` scores on them; all call ``validation_relations``.
- A support set (``SupportConfig``, the record a synthesis output carries in its ``config.yaml``) is
  the K-shot training split of a dataset, or a user's file, narrowed to relations away from evaluation.

Usage::

    held_out = validation_relations(HoldoutSettings(holdout=16, holdout_seed=0))   # 16 Wiki80 relation names
    instances, dropped = wiki80_disjoint_from_fewrel_val("dev")
    task, support = support_instances(SupportConfig(dataset="wiki80", k_shot=8, seed=42))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tkre.config import checked, one_of, positive
from tkre.data.datasets import (KShotTask, data_dir, limit_per_relation, load_kshot, load_split, sample_kshot,
                                unknown_dataset)
from tkre.data.instance import RelationInstance
from tkre.data.readers import read_pid2name
from tkre.data.records import read_data_file
from tkre.errors import ConfigError

SUPPORT_RELATIONS = ("disjoint_from_fewrel_val", "disjoint_from_evaluation", "all")


@dataclass
class HoldoutSettings:
    """How many Wiki80 relations (disjoint from FewRel val) are held out for validation, and the draw's seed."""

    holdout: int = positive(16)
    holdout_seed: int = 0


@dataclass
class SupportConfig:
    """The support set a synthesis explains and pre-training reads back."""

    dataset: str = checked(unknown_dataset, "wiki80")
    data: str | None = None  # your own labelled file instead (FewRel, TACRED, SemEval lines or records): k_shot drawn per relation
    data_format: str | None = None  # fewrel | tacred | semeval | records (default: inferred from the file)
    k_shot: int = positive(8)
    seed: int = 42
    relations: str = one_of("disjoint_from_fewrel_val", SUPPORT_RELATIONS)
    schema: str | None = None  # relation names and descriptions: the dataset's own, or a .json/.yaml file
    max_relations: int | None = positive(None)  # the first N relations by name, for quick runs
    max_per_relation: int | None = positive(None)  # the first N support instances of each relation, for quick runs


def fewrel_val_relation_names(root: str | Path | None = None) -> set[str]:
    """Names (through ``pid2name.json``) of the FewRel validation relations."""
    return _names_of(load_split("fewrel", "val", root), root)


def _names_of(fewrel: list[RelationInstance], root: str | Path | None) -> set[str]:
    """The names of the FewRel relations (property ids) of ``fewrel``."""
    root = data_dir(root)
    pid2name = read_pid2name(root / "fewrel" / "pid2name.json")
    pids = {x.relation for x in fewrel}
    missing = sorted(pids - set(pid2name))
    if missing:
        raise ConfigError(f"{root / 'fewrel' / 'pid2name.json'}: no name for relations {missing}")
    return {pid2name[p][0] for p in pids}


def sentence_key(inst: RelationInstance) -> str:
    return " ".join(inst.tokens).lower()


def disjoint_from(
    instances: list[RelationInstance], held_out: list[RelationInstance], held_out_relations: set[str]
) -> tuple[list[RelationInstance], dict[str, int]]:
    """Drops every instance of a held-out relation and every sentence that also occurs in ``held_out``."""
    sentences = {sentence_key(x) for x in held_out}
    kept, dropped = [], {"held_out_relation": 0, "held_out_sentence": 0}
    for inst in instances:
        if inst.relation in held_out_relations:
            dropped["held_out_relation"] += 1
        elif sentence_key(inst) in sentences:
            dropped["held_out_sentence"] += 1
        else:
            kept.append(inst)
    return kept, dropped


def wiki80_disjoint_from_fewrel_val(split: str = "dev", root: str | Path | None = None):
    """Wiki80 ``split`` minus the 16 FewRel validation relations (and any FewRel val sentence).

    Returns ``(instances, dropped_counts)``; the remaining 64 relations are disjoint from FewRel val.
    """
    held_out = load_split("fewrel", "val", root)
    return disjoint_from(load_split("wiki80", split, root), held_out, _names_of(held_out, root))


def heldout_relations(relations, settings: HoldoutSettings) -> list[str]:
    """A seeded draw of ``settings.holdout`` of ``relations`` (sorted first, so their order does not matter)."""
    names = sorted(set(relations))
    if not 0 < settings.holdout < len(names):
        raise ConfigError(f"val.holdout: expected 0 < holdout < {len(names)} (the relations drawn from), "
                          f"got {settings.holdout}")
    picks = np.random.default_rng(settings.holdout_seed).choice(len(names), size=settings.holdout, replace=False)
    return sorted(names[i] for i in picks)


def validation_relations(settings: HoldoutSettings | None = None, root: str | Path | None = None) -> list[str]:
    """The relations that choose settings: the draw of ``settings`` over the 64 Wiki80 relations disjoint
    from FewRel val."""
    relations = {x.relation for x in load_split("wiki80", "dev", root)} - fewrel_val_relation_names(root)
    return heldout_relations(relations, settings or HoldoutSettings())


def kshot_support(task: KShotTask, relations: str = "all", max_relations: int | None = None,
                  max_per_relation: int | None = None, root: str | Path | None = None,
                  holdout: HoldoutSettings | None = None) -> list[RelationInstance]:
    """The support set that synthesis explains and pre-training reads: ``task.train`` of the chosen relations.

    ``relations`` is ``all``, ``disjoint_from_fewrel_val`` or ``disjoint_from_evaluation`` (also without
    the validation relations of ``holdout``, so settings chosen on them stay clean); the task's
    no-relation label is never among them (there is no relation to explain or extend); the first
    ``max_relations`` names in sorted order are kept, then the first ``max_per_relation`` instances of each.
    """
    if relations not in SUPPORT_RELATIONS:
        raise ConfigError(f"support.relations: expected one of {', '.join(SUPPORT_RELATIONS)}, got {relations!r}")
    held_out = fewrel_val_relation_names(root) if relations != "all" else set()
    held_out |= {task.no_relation} if task.no_relation else set()
    if relations == "disjoint_from_evaluation":
        held_out |= set(validation_relations(holdout, root))
    names = set(sorted({x.relation for x in task.train} - held_out)[:max_relations])
    return limit_per_relation([x for x in task.train if x.relation in names], max_per_relation)


def support_instances(support: SupportConfig, root: str | Path | None = None) -> tuple[KShotTask, list[RelationInstance]]:
    """The K-shot task a support set comes from (a user's file: ``k_shot`` per relation drawn with the
    seed, no dev or test) and the support set itself."""
    if support.data:
        instances = read_data_file(support.data, support.data_format)
        task = KShotTask([instances[i] for i in sample_kshot(instances, support.k_shot, support.seed)], [], [], {}, None)
    else:
        task = load_kshot(support.dataset, support.k_shot, support.seed, root)
    return task, kshot_support(task, support.relations, support.max_relations, support.max_per_relation, root)
