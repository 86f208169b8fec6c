"""A new dataset is one reader plus one registry entry: the eval job scores episodes on it and fine-tunes on it."""

from pathlib import Path

import pytest

from tkre.data.datasets import DATASETS, Dataset, load_kshot, load_split, register
from tkre.data.instance import RelationInstance
from tkre.errors import ConfigError

RELATIONS = ["country of citizenship", "father", "sport", "located in or next to body of water"]


def read_toy(path: Path) -> list[RelationInstance]:
    """The toy format: ``relation<TAB>head start:end<TAB>tail start:end<TAB>tokens`` (half-open token spans)."""
    out = []
    for line in Path(path).read_text().splitlines():
        relation, head, tail, text = line.split("\t")
        spans = [tuple(int(x) for x in span.split(":")) for span in (head, tail)]
        out.append(RelationInstance(tuple(text.split(" ")), spans[0], spans[1], relation))
    return out


@pytest.fixture
def toy(tmp_path, data_dir):
    """Real Wiki80 sentences of four relations written in the toy format: 12 per relation to train, 8 to test."""
    root = tmp_path / "data"
    (root / "toy").mkdir(parents=True)
    chosen = [x for x in load_split("wiki80", "dev", data_dir) if x.relation in RELATIONS]
    for split, part in (("train", slice(0, 12)), ("test", slice(12, 20))):
        lines = [f"{x.relation}\t{x.head[0]}:{x.head[1]}\t{x.tail[0]}:{x.tail[1]}\t{' '.join(x.tokens)}"
                 for r in RELATIONS for x in [y for y in chosen if y.relation == r][part]]
        (root / "toy" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    register(Dataset("toy", {"train": "toy/train.tsv", "test": "toy/test.tsv"}, read_toy, kshot="sampled"))
    yield root
    DATASETS.pop("toy")


def test_a_registered_dataset_is_evaluated_and_fine_tuned_through_the_eval_job(toy, tmp_path):
    from jobs.eval import load, run

    task = load_kshot("toy", 4, 13, toy)  # the entry's K-shot policy: K train + K other dev per relation from train
    assert len(task.train) == len(task.dev) == 16 and len(task.test) == 32 and task.no_relation is None
    assert not {id(x) for x in task.train} & {id(x) for x in task.dev} and task.label2id == {r: i for i, r in enumerate(sorted(RELATIONS))}

    config = tmp_path / "eval.yaml"
    config.write_text(f"run_dir: {tmp_path / 'eval'}\ndata_dir: {toy}\n"
                      "episodic: {dataset: toy, split: test, settings: [3-1, 3-0], episodes: 40, n_query: 2}\n"
                      "finetune: [{dataset: toy, k_shot: 4, seeds: [13], train: {epochs: 2, max_length: 64}}]\n")
    results = run(load(str(config)))
    accuracy = {s: r["accuracy"] for s, r in results["episodic"]["mean"].items()}
    assert accuracy["3-1"] > 0.6 and accuracy["3-0"] > 0.4, accuracy  # chance is 1/3
    assert results["schema"]["fallback"] == 4  # no schema source: every relation described by its key as words
    finetuned = results["finetune"][0]
    assert finetuned["dataset"] == "toy" and finetuned["test_size"] == 32 and finetuned["per_seed"][0]["train_size"] == 16
    assert 0 <= finetuned["test_f1_mean"] <= 100 and (tmp_path / "eval" / "results.json").is_file()


def test_an_unregistered_dataset_is_refused_when_the_config_loads(tmp_path):
    from jobs.eval import load

    config = tmp_path / "eval.yaml"
    config.write_text("episodic: {dataset: toy}\n")
    with pytest.raises(ConfigError, match=r"episodic.dataset: must be one of fewrel, wiki80, semeval, or a folder holding task.yaml; got 'toy'"):
        load(str(config))
    config.write_text("finetune: [{dataset: fewrel}]\n")
    with pytest.raises(ConfigError, match=r"finetune\[0\].dataset: must be one of wiki80, semeval \(datasets with K-shot"):
        load(str(config))
