import json

import pytest

from tkre.data.records import instance_record, read_records, record_instance, split_text
from tkre.errors import DataError, DataMissing

TEXT = "Steve Jobs founded Apple, in 1976."


def test_character_offsets_become_token_spans_cut_at_the_mention_boundaries():
    inst = record_instance({"text": TEXT, "h": {"pos": [19, 24]}, "t": {"pos": [0, 10]}, "relation": "founded by"},
                           "q.jsonl", "line 1")
    assert inst.tokens == ("Steve", "Jobs", "founded", "Apple", ",", "in", "1976.")
    assert (inst.head_text, inst.tail_text, inst.relation) == ("Apple", "Steve Jobs", "founded by")


def test_tokens_with_token_spans_and_entity_types():
    inst = record_instance({"token": ["Paris", "is", "in", "France"], "h": {"pos": [0, 1], "type": "city"},
                            "t": {"pos": [3, 4], "type": "country"}}, "q.jsonl", "line 1")
    assert (inst.head, inst.tail, inst.relation) == ((0, 1), (3, 4), "")
    assert (inst.head_type, inst.tail_type) == ("city", "country")


def test_split_text_keeps_every_character_span():
    tokens, chars = split_text("a  bc,d", [(3, 5)])
    assert tokens == ["a", "bc", ",d"] and chars == [(0, 1), (3, 5), (5, 7)]


@pytest.mark.parametrize("record, field, problem", [
    ({"text": TEXT, "t": {"pos": [0, 10]}}, "h", "missing"),
    ({"text": TEXT, "h": [19, 24], "t": {"pos": [0, 10]}}, "h", "expected an object"),
    ({"text": TEXT, "h": {"pos": [19, 99]}, "t": {"pos": [0, 10]}}, "h.pos", "out of range"),
    ({"text": TEXT, "h": {"pos": [19]}, "t": {"pos": [0, 10]}}, "h.pos", "expected [start, end]"),
    ({"text": "a   b", "h": {"pos": [1, 3]}, "t": {"pos": [4, 5]}}, "h.pos", "hold no word"),
    ({"text": "", "h": {"pos": [0, 1]}, "t": {"pos": [0, 1]}}, "text", "non-empty"),
    ({"h": {"pos": [0, 1]}, "t": {"pos": [1, 2]}}, "text", "missing"),
    ({"tokens": ["a", "b"], "h": {"pos": [0, 1]}, "t": {"pos": [1, 3]}}, "t.pos", "out of range"),
    ({"text": TEXT, "h": {"pos": [19, 24]}, "t": {"pos": [0, 10]}, "relation": 3}, "relation", "expected a string"),
])
def test_a_bad_record_names_the_file_the_record_and_the_field(record, field, problem):
    with pytest.raises(DataError) as error:
        record_instance(record, "queries.jsonl", "line 7")
    assert (error.value.path, error.value.record, error.value.field) == ("queries.jsonl", "line 7", field)
    assert problem in error.value.problem


def test_support_records_need_their_relation():
    with pytest.raises(DataError, match="field 'relation'"):
        record_instance({"text": TEXT, "h": {"pos": [19, 24]}, "t": {"pos": [0, 10]}}, "s.jsonl", "line 1",
                        need_relation=True)


def test_jsonl_json_and_parquet_files_read_alike(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [{"text": TEXT, "h": {"pos": [19, 24]}, "t": {"pos": [0, 10]}, "relation": "founded by"},
               {"text": "Paris is in France.", "h": {"pos": [0, 5]}, "t": {"pos": [12, 18]}, "relation": "country"}]
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    (tmp_path / "r.json").write_text(json.dumps(records))
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "r.parquet")
    read = [read_records(str(tmp_path / f"r.{ext}"), need_relation=True) for ext in ("jsonl", "json", "parquet")]
    assert read[0] == read[1] == read[2] and [x.relation for x in read[0]] == ["founded by", "country"]


def test_file_errors_name_the_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"text": TEXT, "h": {"pos": [19, 24]}, "t": {"pos": [0, 10]}}) + "\n{not json\n")
    with pytest.raises(DataError, match=r"q.jsonl: record line 2: field '<json>'"):
        read_records(str(path))
    path.write_text("\n" + json.dumps({"text": TEXT, "h": {"pos": [19, 24]}}) + "\n")
    with pytest.raises(DataError, match=r"record line 2: field 't': missing"):
        read_records(str(path))
    with pytest.raises(DataError, match="cannot tell the format"):
        read_records(str(tmp_path / "q.txt"))
    with pytest.raises(DataMissing, match="not found"):
        read_records(str(tmp_path / "none.jsonl"))


def test_an_instance_written_as_a_record_reads_back_the_same():
    from tkre.data.instance import RelationInstance

    inst = RelationInstance(("The", "Danube", "flows", "through", "Vienna", "."), (1, 2), (4, 5), "crosses")
    record = instance_record(inst, id=3)
    assert record["text"][slice(*record["h"]["pos"])] == "Danube" and record["id"] == 3
    assert record_instance(record, "r.jsonl", 0) == inst
