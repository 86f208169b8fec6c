"""A user's own data file (``--data``): formats inferred from their shape, read by evaluation, meta-training and synthesis."""

import json

import pytest

from tkre.data.datasets import load_split
from tkre.data.records import file_format, instance_record, read_data_file
from tkre.errors import DataError, DataMissing


@pytest.fixture(scope="module")
def fewrel_slice(data_dir):
    """Six FewRel val relations, 10 sentences each, as the original FewRel JSON and as other formats."""
    data = json.loads((data_dir / "fewrel" / "val_wiki.json").read_text())
    return {r: data[r][:10] for r in sorted(data)[:6]}


def test_each_format_is_inferred_and_read(tmp_path, fewrel_slice, data_dir):
    fewrel = tmp_path / "pubmed_like.json"
    fewrel.write_text(json.dumps(fewrel_slice))
    instances = read_data_file(fewrel)
    assert len(instances) == 60 and {x.relation for x in instances} == set(fewrel_slice)
    records = tmp_path / "mine.jsonl"
    records.write_text("".join(json.dumps(instance_record(x)) + "\n" for x in instances))
    tacred = data_dir / "wiki80" / "dev.json"
    semeval = data_dir / "semeval" / "dev.txt"
    assert [file_format(p) for p in (fewrel, records, tacred)] == ["fewrel", "records", "tacred"]
    assert file_format(semeval) == "semeval" and read_data_file(semeval) == load_split("semeval", "dev", data_dir)
    mentions = [(x.relation, x.head_text, x.tail_text) for x in read_data_file(records)]
    assert mentions == [(x.relation, x.head_text, x.tail_text) for x in instances]  # the same instances back
    assert read_data_file(tacred, "tacred") == load_split("wiki80", "dev", data_dir)
    with pytest.raises(DataMissing, match="not found"):
        read_data_file(tmp_path / "none.json")
    unlabelled = tmp_path / "unlabelled.jsonl"
    unlabelled.write_text(json.dumps(instance_record(instances[0], relation=None)) + "\n")
    with pytest.raises(DataError, match="record line 1: field 'relation': missing"):
        read_data_file(unlabelled)


def test_eval_meta_training_and_synthesis_read_a_users_file(tmp_path, fewrel_slice, data_dir):
    import jobs.eval
    import jobs.meta_train
    import jobs.synth
    from tkre.synth.corpus import load_support

    path = tmp_path / "mine.json"
    path.write_text(json.dumps(fewrel_slice))
    cfg = jobs.eval.load("jobs/configs/eval/smoke.yaml", [f"episodic.data={path}", "episodic.settings=[5-1]",
                                                          "episodic.episodes=3"])
    instances, episodes = jobs.eval.sample_or_replay(cfg)
    assert {x.relation for x in instances} == set(fewrel_slice) and len(episodes["5-1"]) == 3
    assert jobs.eval.episode_file(cfg.episodic, "5-1") == "mine_5w1s.jsonl"
    meta = jobs.meta_train.load("jobs/configs/meta_train/smoke.yaml", [f"data={path}"])
    assert len(jobs.meta_train.training_data(meta)[0]) == 60
    synth = jobs.synth.load("jobs/configs/synth/smoke.yaml", [f"support.data={path}", "support.k_shot=2",
                                                              "support.relations=all", "support.schema=fewrel", "support.max_relations=null",
                                                              "support.max_per_relation=null", "scdg.avoid=[]"])
    support, schemas, _ = load_support(synth)
    assert len(support) == 12 and set(schemas) == set(fewrel_slice)
    assert schemas[sorted(fewrel_slice)[0]].description  # the FewRel schema names them
