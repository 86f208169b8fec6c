"""The dataset registry: one entry per named dataset under ``TKRE_DATA_DIR``, and what reads through it.

An entry names the split files, the reader, the no-relation label, the schema source and the K-shot
policy; loading splits, K-shot tasks and relation schemas, synthesis, eval, fine-tuning,
meta-training and predict all look datasets up here. A new dataset is one reader and one
``register(Dataset(...))`` (see docs/README.md, "Where things go").

Layout of the built-in ones (what ``tkre data fetch`` writes): ``fewrel/{val_wiki,pid2name}.json``,
``wiki80/{dev,test,rel2id}.json``, ``wiki80/k-shot/K-SEED/{train,dev}.json``,
``semeval/{train,dev,test}.txt`` and ``semeval/rel2id.json``. A user's own file (FewRel, TACRED or
SemEval format, or user records) reads through ``tkre.data.records.read_data_file``.

A user's own K-shot task is a dataset too: wherever a dataset name goes, a folder holding ``task.yaml``
(``TaskFiles``: its train, dev and test files, an optional schema and no-relation label) may go instead.

Usage::

    instances = load_split("fewrel", "val")
    task = load_kshot("semeval", k=8, seed=13)               # the entry's K-shot policy
    schemas = relation_schemas(["P931"], "fewrel")           # the entry's schema source, or a file
    task = load_kshot("examples/own_task", k=8, seed=13)     # a task folder: its files as given (k, seed unused)
    register(Dataset("toy", {"train": "toy/train.jsonl"}, read_toy, kshot="sampled"))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tkre.config import FieldError, load_config, one_of
from tkre.data.instance import RelationInstance, group_by_relation
from tkre.data.readers import read_fewrel, read_label_map, read_semeval, read_tacred
from tkre.data.records import FILE_FORMATS, read_data_file
from tkre.data.schemas import RelationSchema, Schemas, key_as_words, pid2name_schemas, read_schema_file, semeval_schemas
from tkre.errors import ConfigError, DataError, DataMissing

KSHOT_POLICIES = ("shipped", "sampled", "given")
TASK_FILE = "task.yaml"


@dataclass(frozen=True)
class Dataset:
    """One named dataset: where its splits are and how to read them, label it and few-shot it.

    ``kshot``: ``shipped`` reads ``<kshot_folder>/K-SEED/{train,dev}`` (in the split reader's format)
    and tests on ``test``; ``sampled`` draws K train and K other dev instances per relation from
    ``train`` with the seed; ``given`` (a user's task) takes ``train``, ``dev`` and ``test`` as they
    are; None: no K-shot tasks. ``labels``: a ``rel2id.json`` under the data
    folder, or None for the sorted relations of ``train``. ``schemas``: the relation schemas the
    dataset's own files give (called with the data folder as configured, None for the default), or
    None for every key as words.
    """

    name: str
    files: dict[str, str]  # split -> file under the data folder (or an absolute path)
    reader: Callable[[Path], list[RelationInstance]]
    no_relation: str | None = None  # excluded from micro-F1
    schemas: Callable[[str | Path | None], dict[str, RelationSchema]] | None = None
    kshot: str | None = None
    kshot_folder: str | None = None
    kshot_note: str = ""  # which shipped K-SEED folders there are, for the error when one is missing
    labels: str | None = None

    def __post_init__(self):
        if self.kshot not in (None, *KSHOT_POLICIES):
            raise ValueError(f"dataset {self.name}: kshot must be one of {KSHOT_POLICIES} or None, got {self.kshot!r}")


DATASETS: dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    """Adds (or replaces) a registry entry; returns it."""
    DATASETS[dataset.name] = dataset
    return dataset


@dataclass
class TaskFiles:
    """``task.yaml`` of a user's own K-shot task: its files, relative to the folder, in any format
    ``read_data_file`` takes."""

    train: str | None = None  # the K-shot training set
    dev: str | None = None  # chooses the epoch
    test: str | None = None  # scored once
    schema: str | None = None  # relation names, descriptions and entity types (.json/.yaml)
    no_relation: str | None = None  # the label left out of micro-F1, if there is one
    data_format: str | None = one_of(None, FILE_FORMATS)  # default: inferred from each file


def is_task_folder(name: str) -> bool:
    """Whether ``name`` is a folder holding ``task.yaml`` (and not a registered name)."""
    return name not in DATASETS and (Path(name) / TASK_FILE).is_file()


def _three_files(files: TaskFiles) -> None:
    for split in ("train", "dev", "test"):
        if not getattr(files, split):
            raise FieldError(split, f"missing (the {split} file, relative to the folder)")


def task_dataset(folder: str) -> Dataset:
    """The registry entry of a user's task folder, read from its ``task.yaml``."""
    files = load_config(TaskFiles, Path(folder) / TASK_FILE, check=_three_files)
    resolved = {split: str((Path(folder) / getattr(files, split)).resolve()) for split in ("train", "dev", "test")}
    schema = Path(folder) / files.schema if files.schema else None
    return Dataset(folder, resolved, lambda p: read_data_file(p, files.data_format), files.no_relation,
                   schemas=(lambda root: read_schema_file(schema)) if schema else None, kshot="given")


def dataset(name: str) -> Dataset:
    """The registry entry of ``name`` (or of the task folder ``name``); ``ConfigError`` naming the known ones otherwise."""
    if name in DATASETS:
        return DATASETS[name]
    if is_task_folder(name):
        return task_dataset(name)
    raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, or a folder holding {TASK_FILE}")


def unknown_dataset(name: str) -> str | None:
    """A config rule (``tkre.config.checked``): the problem with ``name`` as a dataset, or None."""
    if name in DATASETS or is_task_folder(name):
        return None
    return f"must be one of {', '.join(DATASETS)}, or a folder holding {TASK_FILE}; got {name!r}"


def unknown_kshot_dataset(name: str) -> str | None:
    """A config rule: the problem with ``name`` as a dataset with K-shot tasks, or None."""
    with_kshot = [n for n, d in DATASETS.items() if d.kshot]
    if name in with_kshot or is_task_folder(name):
        return None
    return (f"must be one of {', '.join(with_kshot)} (datasets with K-shot tasks), or a folder holding {TASK_FILE}; "
            f"got {name!r}")


def task_label(name: str, k: int) -> str:
    """How results name a K-shot task: ``semeval_k8``, or a task folder's own name (its K is what its files hold)."""
    return f"{name}_k{k}" if name in DATASETS else Path(name).name


def _pid2name(by: str) -> Callable[[Path], dict[str, RelationSchema]]:
    return lambda root: pid2name_schemas(data_dir(root) / "fewrel" / "pid2name.json", by)


register(Dataset("fewrel", {"train": "fewrel/train_wiki.json", "val": "fewrel/val_wiki.json"}, read_fewrel,
                 schemas=_pid2name("pid")))
register(Dataset("wiki80", {"train": "wiki80/train.json", "dev": "wiki80/dev.json", "val": "wiki80/dev.json",
                            "test": "wiki80/test.json"}, read_tacred, schemas=_pid2name("name"), kshot="shipped",
                 kshot_folder="wiki80/k-shot",
                 kshot_note="Wiki80 ships K in 8/16/32 and seeds (13, 21, 42, 87, 100)", labels="wiki80/rel2id.json"))
register(Dataset("semeval", {"train": "semeval/train.txt", "dev": "semeval/dev.txt", "val": "semeval/dev.txt",
                             "test": "semeval/test.txt"}, read_semeval, no_relation="Other",
                 schemas=lambda root: semeval_schemas(), kshot="sampled", labels="semeval/rel2id.json"))


def data_dir(path: str | Path | None = None) -> Path:
    """The data folder: ``path``, else ``$TKRE_DATA_DIR``, else ``./data``; must exist."""
    root = Path(path or os.environ.get("TKRE_DATA_DIR") or "data").expanduser()
    if not root.is_dir():
        raise DataMissing(
            f"data folder {root} not found: run `tkre data fetch --dest {root}` "
            "or point TKRE_DATA_DIR at a folder holding fewrel/, wiki80/ and semeval/"
        )
    return root


def split_path(name: str, split: str, root: str | Path | None = None) -> Path:
    """The file of one split of a dataset (a task folder's files need no data folder)."""
    entry = dataset(name)
    if split not in entry.files:
        raise ConfigError(f"dataset {name!r} has no split {split!r}; choose one of {', '.join(entry.files)}")
    path = Path(entry.files[split])
    if path.is_absolute():
        if not path.is_file():
            raise DataMissing(f"{path} not found ({split} of {name})")
        return path
    path = data_dir(root) / path
    if not path.is_file():
        raise DataMissing(f"{path} not found: run `tkre data fetch --dest {data_dir(root)}`")
    return path


def load_split(name: str, split: str, root: str | Path | None = None) -> list[RelationInstance]:
    """All instances of dataset ``name``'s ``split``, in file order."""
    return dataset(name).reader(split_path(name, split, root))


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


def _kshot_entry(name: str) -> Dataset:
    entry = dataset(name)
    if entry.kshot is None:
        with_kshot = ", ".join(n for n, d in DATASETS.items() if d.kshot)
        raise ConfigError(f"K-shot fine-tuning supports {with_kshot}, not {name!r}")
    return entry


def _shipped_folder(entry: Dataset, k: int, seed: int, root: Path) -> Path:
    folder = root / entry.kshot_folder / f"{k}-{seed}"
    if not folder.is_dir():
        raise DataMissing(f"{folder} not found: {entry.kshot_note or 'no such K-SEED folder'}")
    return folder


def check_kshot(name: str, k: int, seed: int, root: str | Path | None = None) -> None:
    """Fails like ``load_kshot`` when the split is not there, without reading it."""
    entry = _kshot_entry(name)
    if entry.kshot == "shipped":
        _shipped_folder(entry, k, seed, data_dir(root))
    else:
        for split in ("train", "dev", "test") if entry.kshot == "given" else ("train",):
            split_path(name, split, root)


def load_kshot(name: str, k: int, seed: int, root: str | Path | None = None) -> KShotTask:
    """The K-shot task of dataset ``name`` under its policy (``Dataset.kshot``), tested on its test split."""
    entry = _kshot_entry(name)
    if entry.kshot == "shipped":
        folder = _shipped_folder(entry, k, seed, data_dir(root))
        suffix = Path(entry.files["test"]).suffix
        files = {"train": folder / f"train{suffix}", "dev": folder / f"dev{suffix}"}
    else:
        splits = ("train", "dev") if entry.kshot == "given" else ("train",)
        files = {split: split_path(name, split, root) for split in splits}
    files["test"] = split_path(name, "test", root)
    if entry.kshot in ("shipped", "given"):
        train, dev = entry.reader(files["train"]), entry.reader(files["dev"])
    else:
        pool = entry.reader(files["train"])
        train_ids = sample_kshot(pool, k, seed)
        dev_ids = sample_kshot(pool, k, seed, exclude=set(train_ids))
        train, dev = [pool[i] for i in train_ids], [pool[i] for i in dev_ids]
        files["dev"] = files["train"]
    test = entry.reader(files["test"])
    if entry.labels:
        label_file = data_dir(root) / entry.labels
        label2id = read_label_map(label_file)
    else:
        label_file = f"the relations of {name} train"
        pool = train if entry.kshot == "given" else entry.reader(split_path(name, "train", root))
        label2id = {r: i for i, r in enumerate(sorted({x.relation for x in pool}))}
    for part_name, part in (("train", train), ("dev", dev), ("test", test)):
        unknown = next((i for i, x in enumerate(part) if x.relation not in label2id), None)
        if unknown is not None:
            raise DataError(files[part_name], f"{unknown + 1} of {len(part)} ({part_name})", "relation",
                            f"{part[unknown].relation!r} is not in {label_file}")
    return KShotTask(train, dev, test, label2id, entry.no_relation)


def read_schema_source(source: str, root: str | Path | None = None) -> dict[str, RelationSchema]:
    """Every schema a source knows: a registered dataset's own (none: {}) or a user's ``.json``/``.yaml`` file."""
    if source in DATASETS or is_task_folder(source):
        entry = dataset(source)
        return entry.schemas(root) if entry.schemas else {}
    if Path(source).suffix in (".json", ".yaml", ".yml"):
        return read_schema_file(source)
    raise ConfigError(f"schema {source!r}: expected one of {', '.join(DATASETS)}, a task folder or a .json/.yaml file")


def relation_schemas(relations, source: str, root: str | Path | None = None) -> Schemas:
    """The schema of each relation from ``source``; a relation it lacks gets its key as words."""
    known = read_schema_source(source, root)
    fallback = [r for r in set(relations) if r not in known]
    schemas = {r: known.get(r) or RelationSchema(key_as_words(r)) for r in sorted(set(relations))}
    return Schemas(schemas, source, fallback)
