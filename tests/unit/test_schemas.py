import json

import pytest

from tkre.data.datasets import load_split, relation_schemas
from tkre.data.readers import read_label_map
from tkre.data.schemas import RelationSchema, key_as_words, with_entity_types
from tkre.errors import DataError, DataMissing


def test_fewrel_by_property_id_and_wiki80_by_name(data_dir):
    fewrel = relation_schemas({x.relation for x in load_split("fewrel", "val")}, "fewrel")
    assert len(fewrel) == 16 and fewrel.fallback == []
    assert fewrel["P177"] == RelationSchema("crosses", "obstacle (body of water, road, ...) which this bridge crosses over "
                                                       "or this tunnel goes under")
    assert fewrel["P177"].text.startswith("crosses: obstacle")
    wiki80 = relation_schemas(read_label_map(data_dir / "wiki80" / "rel2id.json"), "wiki80")
    assert len(wiki80) == 80 and wiki80.fallback == []
    assert wiki80["crosses"].description == fewrel["P177"].description


def test_missing_relation_falls_back_to_its_key_as_words_and_is_counted(data_dir):
    schemas = relation_schemas(["crosses", "is_primary_anatomic_site_of_disease", "bornIn"], "wiki80")
    assert schemas["is_primary_anatomic_site_of_disease"] == RelationSchema("is primary anatomic site of disease")
    assert schemas["bornIn"].text == "born in"
    assert schemas.fallback == ["bornIn", "is_primary_anatomic_site_of_disease"]
    assert schemas.summary() == {"source": "wiki80", "relations": 3, "fallback": 2,
                                 "fallback_relations": ["bornIn", "is_primary_anatomic_site_of_disease"]}
    assert key_as_words("org:founded_by") == "org founded by"


def test_semeval_has_every_label_in_both_directions(data_dir):
    labels = read_label_map(data_dir / "semeval" / "rel2id.json")
    schemas = relation_schemas(labels, "semeval")
    assert schemas.fallback == [] and len(schemas) == 19
    assert schemas["Cause-Effect(e1,e2)"].name == "cause effect" and schemas["Cause-Effect(e2,e1)"].name == "effect cause"
    assert "the head is the cause" in schemas["Cause-Effect(e1,e2)"].description


def test_no_description_placeholder_is_dropped(data_dir):
    schemas = relation_schemas(["P2389"], "fewrel")  # pid2name says "No description defined"
    assert schemas["P2389"].description == "" and schemas["P2389"].text == schemas["P2389"].name


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_user_file(tmp_path, suffix):
    entries = {"founded_by": {"name": "founded by", "description": "founder of the organization",
                              "head_types": ["organization"]}, "born_in": {"description": "place of birth"}}
    path = tmp_path / f"schema{suffix}"
    path.write_text(json.dumps(entries))  # JSON is YAML too
    schemas = relation_schemas(["founded_by", "born_in", "other_one"], str(path))
    assert schemas["founded_by"] == RelationSchema("founded by", "founder of the organization", ("organization",))
    assert schemas["born_in"].text == "born in: place of birth"
    assert schemas.fallback == ["other_one"]


@pytest.mark.parametrize("entry,field", [
    ({"name": "x", "description": 3}, "description"),
    ({"name": ["x"]}, "name"),
    ({"name": "x", "typo": "y"}, "typo"),
    ({"name": "x", "head_types": "person"}, "head_types"),
    ("just a string", "<value>"),
])
def test_user_file_errors_name_file_record_and_field(tmp_path, entry, field):
    path = tmp_path / "schema.json"
    path.write_text(json.dumps({"ok": {"name": "fine"}, "bad_one": entry}))
    with pytest.raises(DataError) as error:
        relation_schemas(["ok"], str(path))
    assert (error.value.path, error.value.record, error.value.field) == (str(path), "bad_one", field)


def test_unreadable_or_missing_user_file(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text("a: [unclosed\n")
    with pytest.raises(DataError, match="schema.yaml: record <root>"):
        relation_schemas(["a"], str(path))
    with pytest.raises(DataMissing, match="nope.json"):
        relation_schemas(["a"], str(tmp_path / "nope.json"))


def test_entity_types_fill_in_where_the_source_has_none(data_dir):
    dev = [x for x in load_split("wiki80", "dev") if x.relation == "crosses"]
    schemas = with_entity_types(relation_schemas(["crosses"], "wiki80"), dev)
    assert schemas["crosses"].head_types and schemas["crosses"].tail_types
    assert schemas["crosses"].description == relation_schemas(["crosses"], "wiki80")["crosses"].description
