"""SCDG prompts: demonstrations as earlier turns, entities before the sentence, the schema stated once."""

import json

from tkre.data.instance import RelationInstance
from tkre.data.schemas import RelationSchema
from tkre.synth.prompts import response_format, scdg_messages

SCHEMA = RelationSchema("founded by", "founder of this organization", ("organization",), ("human",))
DEMOS = [
    RelationInstance(tuple("Apple was founded by Steve Jobs .".split()), (0, 1), (4, 6), "founded by", "organization", "human"),
    RelationInstance(tuple("Bill Gates founded Microsoft .".split()), (3, 4), (0, 2), "founded by", "organization", "human"),
]


def test_each_demonstration_is_an_assistant_turn_with_the_entities_first():
    messages = scdg_messages(SCHEMA, DEMOS, m=1)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    answers = [json.loads(m["content"]) for m in messages if m["role"] == "assistant"]
    assert answers[1] == {"head": "Microsoft", "tail": "Bill Gates", "head_type": "organization",
                          "tail_type": "human", "sentence": "Bill Gates founded Microsoft ."}
    assert list(answers[0]) == ["head", "tail", "head_type", "tail_type", "sentence"]
    first = messages[1]["content"]
    assert '"founded by" (founder of this organization)' in first and "of type: organization" in first
    assert messages[-1]["content"].startswith("Another one")


def test_several_instances_per_request_ask_for_a_list_and_its_schema():
    assert '{"instances": [...]}' in scdg_messages(SCHEMA, DEMOS, m=4)[-1]["content"]
    one = response_format("scdg", 1)["json_schema"]["schema"]
    many = response_format("scdg", 4)["json_schema"]["schema"]
    assert one["required"] == ["head", "tail", "sentence"]
    assert many["properties"]["instances"]["items"] == one


def test_synthesis_reads_the_schema_source_the_evaluation_reads(tmp_path, data_dir):
    from tkre.config import load_config
    from tkre.data.datasets import relation_schemas
    from tkre.synth.config import SynthConfig
    from tkre.synth.corpus import load_support

    cfg = load_config(SynthConfig, "jobs/configs/synth/smoke.yaml", ["support.max_relations=2", "scdg.avoid=[]"])
    support, schemas, _ = load_support(cfg)
    expected = relation_schemas({x.relation for x in support}, "wiki80")
    assert schemas.source == "wiki80" and set(schemas) == set(expected)
    for relation, schema in schemas.items():
        assert (schema.name, schema.description) == (expected[relation].name, expected[relation].description)
        assert schema.head_types  # filled from the support's entity types
    user = tmp_path / "schema.yaml"
    user.write_text("".join(f"{r}: {{description: my own words for {r}}}\n" for r in schemas))
    cfg = load_config(SynthConfig, "jobs/configs/synth/smoke.yaml",
                      ["support.max_relations=2", "scdg.avoid=[]", f"support.schema={user}"])
    _, mine, _ = load_support(cfg)
    assert all(s.description == f"my own words for {r}" for r, s in mine.items())
    assert f'"{next(iter(mine))}" (my own words' in scdg_messages(next(iter(mine.values())), DEMOS, 1)[1]["content"]
