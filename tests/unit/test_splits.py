from tkre.data.datasets import load_kshot, load_split, sample_kshot
from tkre.data.readers import read_pid2name
from tkre.data.splits import fewrel_val_relation_names, sentence_key, wiki80_disjoint_from_fewrel_val


def test_wiki80_minus_fewrel_val_is_relation_disjoint(data_dir):
    kept, dropped = wiki80_disjoint_from_fewrel_val("dev", data_dir)
    val = load_split("fewrel", "val", data_dir)
    pid2name = read_pid2name(data_dir / "fewrel/pid2name.json")
    val_names = {pid2name[x.relation][0] for x in val}
    kept_relations = {x.relation for x in kept}
    assert len(val_names) == 16 and len(kept_relations) == 64
    assert kept_relations.isdisjoint(val_names)
    assert {sentence_key(x) for x in kept}.isdisjoint({sentence_key(x) for x in val})
    assert dropped["held_out_relation"] == 16 * 70
    assert fewrel_val_relation_names(data_dir) == val_names


def test_sample_kshot_is_seeded_and_per_class(data_dir):
    pool = load_split("semeval", "train", data_dir)
    a, b, c = sample_kshot(pool, 4, 13), sample_kshot(pool, 4, 13), sample_kshot(pool, 4, 21)
    assert a == b and a != c
    counts = {}
    for i in a:
        counts[pool[i].relation] = counts.get(pool[i].relation, 0) + 1
    assert set(counts.values()) == {4} and len(counts) == 18  # Entity-Destination(e2,e1) is not in train


def test_semeval_kshot_train_and_dev_are_disjoint(data_dir):
    task = load_kshot("semeval", 8, 42, data_dir)
    assert len(task.train) == len(task.dev) == 18 * 8
    assert not set(map(id, task.train)) & set(map(id, task.dev))
    assert task.no_relation == "Other" and task.label2id["Other"] == 0


def test_wiki80_kshot_uses_shipped_splits(data_dir):
    task = load_kshot("wiki80", 8, 13, data_dir)
    assert len(task.train) == 80 * 8 and len(task.test) == 5600 and task.no_relation is None


def test_a_support_set_disjoint_from_evaluation_leaves_out_fewrel_val_and_the_validation_relations(data_dir):
    import pytest

    from tkre.data.splits import kshot_support, validation_relations
    from tkre.errors import ConfigError

    task = load_kshot("wiki80", 8, 42, data_dir)
    wide = {x.relation for x in kshot_support(task, "disjoint_from_fewrel_val", root=data_dir)}
    narrow = {x.relation for x in kshot_support(task, "disjoint_from_evaluation", root=data_dir)}
    assert len(wide) == 64 and len(narrow) == 48
    assert narrow == wide - set(validation_relations(root=data_dir))
    first = kshot_support(task, "disjoint_from_evaluation", max_relations=16, max_per_relation=4, root=data_dir)
    assert len(first) == 64 and {x.relation for x in first} == set(sorted(narrow)[:16])
    with pytest.raises(ConfigError, match="support.relations: expected one of"):
        kshot_support(task, "disjoint", root=data_dir)
