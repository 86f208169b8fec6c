"""A user's own K-shot task (a folder with task.yaml), in-task synthesis support, and fine-tuning data with
synthetic instances: the cap, and refusal of dev or test copies."""

import json
import shutil
from pathlib import Path

import pytest

from tkre.config import ConfigError
from tkre.data.datasets import KShotTask, load_kshot, relation_schemas, task_label, unknown_dataset
from tkre.data.instance import RelationInstance
from tkre.data.splits import SupportConfig, support_instances
from tkre.data.synthetic import add_synthetic
from tkre.errors import DataError
from tkre.synth.config import SynthConfig
from tkre.synth.corpus import edkg_requests, load_support
from tkre.synth.validation import normalise

OWN_TASK = Path(__file__).resolve().parents[2] / "examples" / "own_task"


def test_a_task_folder_is_a_dataset_with_its_files_as_given():
    task = load_kshot(str(OWN_TASK), k=99, seed=0)  # K and seed are what the files hold
    assert (len(task.train), len(task.dev), len(task.test)) == (16, 8, 12)
    assert sorted(task.label2id) == ["born_in", "founded_by", "headquartered_in", "no_relation"]
    assert task.no_relation == "no_relation"
    schemas = relation_schemas(["born_in", "founded_by"], str(OWN_TASK))
    assert schemas["born_in"].text == "born in: the person was born in the city" and not schemas.fallback
    assert unknown_dataset(str(OWN_TASK)) is None and "or a folder holding task.yaml" in unknown_dataset("nope")
    assert (task_label(str(OWN_TASK), 8), task_label("semeval", 8)) == ("own_task", "semeval_k8")


@pytest.mark.parametrize("split, line", [("train", 3), ("dev", 2), ("test", 5)])
def test_a_bad_record_in_any_of_the_task_files_names_the_file_the_record_and_the_field(tmp_path, split, line):
    folder = tmp_path / "task"
    shutil.copytree(OWN_TASK, folder)
    path = folder / f"{split}.jsonl"
    rows = path.read_text().splitlines()
    record = json.loads(rows[line - 1])
    record["t"]["pos"] = [0, 999]
    rows[line - 1] = json.dumps(record)
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError) as error:
        load_kshot(str(folder), 8, 13)
    assert str(error.value).startswith(f"{path}: record line {line}: field 't.pos': ")


def test_a_relation_missing_from_the_training_file_and_a_bad_task_file_are_refused(tmp_path):
    folder = tmp_path / "task"
    shutil.copytree(OWN_TASK, folder)
    rows = (folder / "test.jsonl").read_text().splitlines()
    rows[1] = rows[1].replace('"founded_by"', '"member_of"')
    (folder / "test.jsonl").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"test.jsonl: record 2 of 12 \(test\): field 'relation': 'member_of' is not in "):
        load_kshot(str(folder), 8, 13)
    (folder / "task.yaml").write_text("train: train.jsonl\ndev: dev.jsonl\nfolds: 3\n")
    with pytest.raises(ConfigError, match=r"task.yaml: folds: unknown key"):
        load_kshot(str(folder), 8, 13)
    (folder / "task.yaml").write_text("train: train.jsonl\ndev: dev.jsonl\n")
    with pytest.raises(ConfigError, match=r"task.yaml: test: missing"):
        load_kshot(str(folder), 8, 13)


def test_in_task_support_is_the_tasks_own_training_set_without_its_no_relation_class(data_dir):
    task, support = support_instances(SupportConfig(dataset="semeval", k_shot=8, seed=13, relations="all"), data_dir)
    assert task.train == load_kshot("semeval", 8, 13, data_dir).train
    assert support == [x for x in task.train if x.relation != "Other"] and len(support) == 136
    cfg = SynthConfig(support=SupportConfig(dataset=str(OWN_TASK), relations="all"), data_dir=str(data_dir))
    cfg.scdg.avoid = []
    support, schemas, evaluation = load_support(cfg)
    assert len(support) == 12 and sorted(schemas) == ["born_in", "founded_by", "headquartered_in"]
    own = load_kshot(str(OWN_TASK), 8, 13)
    assert all(normalise(x.tokens) in evaluation.exact for x in own.dev + own.test)  # never copied by synthesis


def test_edkg_explains_at_most_explain_per_relation_support_sentences_of_each_relation():
    cfg = SynthConfig(support=SupportConfig(dataset=str(OWN_TASK), relations="all"))
    cfg.scdg.avoid = []
    support, schemas, _ = load_support(cfg)
    rows = edkg_requests(schemas, support, "smollm2", {}, per_relation=2)
    indices = [json.loads(r["meta"])["support_index"] for r in rows]
    assert len(rows) == 6 and [support[i].relation for i in indices].count("born_in") == 2
    assert indices == sorted(indices) and len(edkg_requests(schemas, support, "smollm2", {})) == 12


def instance(words: str, relation: str) -> RelationInstance:
    tokens = tuple(words.split())
    return RelationInstance(tokens, (0, 1), (len(tokens) - 1, len(tokens)), relation)


def test_synthetic_instances_join_the_training_set_capped_per_relation_and_never_copying_dev_or_test():
    dev, test = [instance("Ada founded Acme", "founded_by")], [instance("Bo lives in Oslo", "lives_in")]
    task = KShotTask([instance("Cy founded Cyco", "founded_by")], dev, test,
                     {"founded_by": 0, "lives_in": 1, "no_relation": 2}, "no_relation")
    synthetic = [instance(f"Person{i} founded Company{i}", "founded_by") for i in range(5)]
    synthetic += [instance("ADA founded acme", "founded_by"), instance("Bo lives in Oslo", "lives_in"),
                  instance("Dee lives in Rome", "lives_in"), instance("Eve works for Ikea", "works_for"),
                  RelationInstance(("Fay", "met", "***"), (0, 1), (2, 3), "lives_in")]  # no word in a mention
    merged, counts = add_synthetic(task, synthetic, per_relation=3)
    assert merged.train == task.train + synthetic[:3] + [synthetic[7]]
    assert (merged.dev, merged.test) == (dev, test) and len(task.train) == 1  # dev and test untouched, task not changed
    assert counts["added"] == 4 and counts["per_relation"] == {"founded_by": 3, "lives_in": 1}
    assert counts["refused"] == {"copies a dev or test sentence": 2, "not a relation of the task": 1,
                                 "over the cap": 2, "hygiene: implausible_entity": 1}
    assert add_synthetic(task, synthetic, per_relation=0)[1]["added"] == 0
