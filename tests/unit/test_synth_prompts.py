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
