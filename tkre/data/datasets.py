"""Named datasets under ``TKRE_DATA_DIR``, K-shot splits and relation-disjoint splits.

Layout (what ``tkre data fetch`` writes): ``fewrel/{val_wiki,pid2name}.json``,
``wiki80/{dev,test,rel2id}.json``, ``wiki80/k-shot/K-SEED/{train,dev}.json``,
``semeval/{train,dev,test}.txt`` and ``semeval/rel2id.json``.

A user's own file (FewRel, TACRED or SemEval format, or user records) reads through
``read_data_file``, its format inferred from its shape or given.

Usage: ``instances = load_split("fewrel", "val")``; ``read_data_file("pubmed.json")`` (FewRel 2.0's format)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tkre.data.instance import RelationInstance, group_by_relation
from tkre.data.readers import read_fewrel, read_label_map, read_pid2name, read_semeval, read_tacred
from tkre.errors import ConfigError, DataMissing

DATASETS = ("fewrel", "wiki80", "semeval")
FILE_FORMATS = ("fewrel", "tacred", "semeval", "records")  # a user's own data file (read_data_file)
NO_RELATION = {"fewrel": None, "wiki80": None, "semeval": "Other"}
WIKI80_SEEDS = (13, 21, 42, 87, 100)


def data_dir(path: str | Path | None = None) -> Path:
    """The data folder: ``path``, else ``$TKRE_DATA_DIR``, else ``./data``; must exist."""
    root = Path(path or os.environ.get("TKRE_DATA_DIR") or "data").expanduser()
    if not root.is_dir():
        raise DataMissing(
            f"data folder {root} not found: run `tkre data fetch --dest {root}` "
            "or point TKRE_DATA_DIR at a folder holding fewrel/, wiki80/ and semeval/"
        )
    return root


def split_path(dataset: str, split: str, root: Path) -> Path:
    """The file of one split of a named dataset."""
    files = {
        "fewrel": {"train": "fewrel/train_wiki.json", "val": "fewrel/val_wiki.json"},
        "wiki80": {"train": "wiki80/train.json", "dev": "wiki80/dev.json", "val": "wiki80/dev.json", "test": "wiki80/test.json"},
        "semeval": {"train": "semeval/train.txt", "dev": "semeval/dev.txt", "val": "semeval/dev.txt", "test": "semeval/test.txt"},
    }
    if dataset not in files:
        raise ConfigError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if split not in files[dataset]:
        raise ConfigError(f"dataset {dataset!r} has no split {split!r}; choose one of {', '.join(files[dataset])}")
    path = root / files[dataset][split]
    if not path.is_file():
        raise DataMissing(f"{path} not found: run `tkre data fetch --dest {root}`")
    return path


def read_any(dataset: str, path: Path) -> list[RelationInstance]:
    reader = {"fewrel": read_fewrel, "wiki80": read_tacred, "semeval": read_semeval}[dataset]
    return reader(path)


def load_split(dataset: str, split: str, root: str | Path | None = None) -> list[RelationInstance]:
    """All instances of ``dataset``'s ``split``, in file order."""
    root = data_dir(root)
    return read_any(dataset, split_path(dataset, split, root))


def file_format(path: str | Path) -> str:
    """A data file's format, from its shape: a FewRel object, a TACRED-style list (Wiki80, TACRED),
    SemEval-style JSON lines (``token``, ``h.pos``), or user records (``tkre.data.records``)."""
    path = Path(path)
    if not path.is_file():
        raise DataMissing(f"data file {path} not found")
    if path.suffix == ".parquet":
        return "records"
    if path.suffix == ".json":
        data = _first_json(path)
        if isinstance(data, dict):
            return "fewrel"
        return "tacred" if data and isinstance(data[0], dict) and "subj_start" in data[0] else "records"
    with open(path, encoding="utf-8") as f:
        first = next((line for line in f if line.strip()), "{}")
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        return "records"  # the records reader names the bad line
    return "semeval" if isinstance(record, dict) and "token" in record and "text" not in record else "records"


def _first_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None  # the reader of the inferred format names where it breaks


def read_data_file(path: str | Path, fmt: str | None = None) -> list[RelationInstance]:
    """Every labelled instance of a user's data file; ``fmt`` (one of ``FILE_FORMATS``) or inferred."""
    from tkre.data.records import read_records

    fmt = fmt or file_format(path)
    if fmt not in FILE_FORMATS:
        raise ConfigError(f"data format {fmt!r}: choose one of {', '.join(FILE_FORMATS)}")
    if fmt == "records":
        return read_records(str(path), need_relation=True)
    return {"fewrel": read_fewrel, "tacred": read_tacred, "semeval": read_semeval}[fmt](path)


def limit_per_relation(instances: list[RelationInstance], limit: int | None) -> list[RelationInstance]:
    """The first ``limit`` instances of each relation (all when ``limit`` is None)."""
    if limit is None:
        return instances
    return [instances[i] for ids in group_by_relation(instances).values() for i in ids[:limit]]


@dataclass
class KShotTask:
    """One K-shot fine-tuning task: train/dev/test instances, label ids, the no-relation label."""

    train: list[RelationInstance]
    dev: list[RelationInstance]
    test: list[RelationInstance]
    label2id: dict[str, int]
    no_relation: str | None


def sample_kshot(instances: list[RelationInstance], k: int, seed: int, exclude: set[int] = frozenset()) -> list[int]:
    """Indices of ``k`` instances per relation (all if fewer), drawn with ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    chosen = []
    for ids in group_by_relation(instances).values():
        pool = [i for i in ids if i not in exclude]
        take = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
        chosen.extend(pool[j] for j in sorted(take))
    return chosen


def check_kshot(dataset: str, k: int, seed: int, root: str | Path | None = None) -> None:
    """Fails like ``load_kshot`` when the split is not there, without reading it."""
    if dataset == "wiki80":
        folder = data_dir(root) / "wiki80" / "k-shot" / f"{k}-{seed}"
        if not folder.is_dir():
            raise DataMissing(f"{folder} not found: Wiki80 ships K in 8/16/32 and seeds {WIKI80_SEEDS}")
    else:
        split_path(dataset, "train", data_dir(root))


def load_kshot(dataset: str, k: int, seed: int, root: str | Path | None = None) -> KShotTask:
    """Wiki80: the shipped ``k-shot/K-SEED`` splits; SemEval: K train + K dev per class sampled from train."""
    root = data_dir(root)
    if dataset == "wiki80":
        folder = root / "wiki80" / "k-shot" / f"{k}-{seed}"
        if not folder.is_dir():
            raise DataMissing(f"{folder} not found: Wiki80 ships K in 8/16/32 and seeds {WIKI80_SEEDS}")
        train, dev = read_tacred(folder / "train.json"), read_tacred(folder / "dev.json")
        test = load_split("wiki80", "test", root)
        label_file = root / "wiki80" / "rel2id.json"
    elif dataset == "semeval":
        pool = load_split("semeval", "train", root)
        train_ids = sample_kshot(pool, k, seed)
        dev_ids = sample_kshot(pool, k, seed, exclude=set(train_ids))
        train, dev = [pool[i] for i in train_ids], [pool[i] for i in dev_ids]
        test = load_split("semeval", "test", root)
        label_file = root / "semeval" / "rel2id.json"
    else:
        raise ConfigError(f"K-shot fine-tuning supports wiki80 and semeval, not {dataset!r}")
    label2id = read_label_map(label_file)
    for name, part in (("train", train), ("dev", dev), ("test", test)):
        unknown = sorted({x.relation for x in part} - set(label2id))
        if unknown:
            raise ConfigError(f"{dataset} {name}: relations {unknown} are not in {label_file}")
    return KShotTask(train, dev, test, label2id, NO_RELATION[dataset])


SUPPORT_RELATIONS = ("disjoint_from_fewrel_val", "disjoint_from_evaluation", "all")


def kshot_support(task: KShotTask, relations: str = "all", max_relations: int | None = None,
                  max_per_relation: int | None = None, root: str | Path | None = None) -> list[RelationInstance]:
    """The support set that synthesis explains and pre-training reads: ``task.train`` of the chosen relations.

    ``relations`` is ``all``, ``disjoint_from_fewrel_val`` or ``disjoint_from_evaluation`` (also without
    the 16 Wiki80 validation relations, so settings chosen on them stay clean); the first
    ``max_relations`` names in sorted order are kept, then the first ``max_per_relation`` instances of each.
    """
    if relations not in SUPPORT_RELATIONS:
        raise ConfigError(f"support.relations: expected one of {', '.join(SUPPORT_RELATIONS)}, got {relations!r}")
    held_out = fewrel_val_relation_names(root) if relations != "all" else set()
    if relations == "disjoint_from_evaluation":
        from tkre.eval.validation import validation_relations

        held_out |= set(validation_relations(root))
    names = set(sorted({x.relation for x in task.train} - held_out)[:max_relations])
    return limit_per_relation([x for x in task.train if x.relation in names], max_per_relation)


def fewrel_val_relation_names(root: str | Path | None = None) -> set[str]:
    """Names (through ``pid2name.json``) of the FewRel validation relations."""
    root = data_dir(root)
    pid2name = read_pid2name(root / "fewrel" / "pid2name.json")
    pids = {x.relation for x in read_fewrel(split_path("fewrel", "val", root))}
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
    root = data_dir(root)
    held_out = load_split("fewrel", "val", root)
    return disjoint_from(load_split("wiki80", split, root), held_out, fewrel_val_relation_names(root))
