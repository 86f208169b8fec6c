"""Versioned prompts for EDKG (explanations) and SCDG (schema-constrained synthetic instances).

A prompt is a list of chat messages; its text, the model and the sampling parameters
together key a request (see ``tkre.synth.requests``), so changing a prompt here means
bumping its version.

Usage::

    schema = RelationSchema("head of government", "head of the executive power of this town", ("region",), ("human",))
    messages = edkg_messages(schema, support_instance)
    messages = scdg_messages(schema, demonstrations, m=8)
"""

from __future__ import annotations

import json

from tkre.data.instance import RelationInstance
from tkre.data.schemas import RelationSchema

EDKG_VERSION = "edkg-v1"
SCDG_VERSION = "scdg-v2"

SYSTEM = "You are a careful annotator of relation extraction data. Follow the output format exactly."


def sentence_text(inst: RelationInstance) -> str:
    """The sentence as the LLM sees it: tokens joined by spaces."""
    return " ".join(inst.tokens)


def _relation_line(schema: RelationSchema) -> str:
    return f'"{schema.name}"' + (f" ({schema.description})" if schema.description else "")


def edkg_messages(schema: RelationSchema, inst: RelationInstance) -> list[dict]:
    """Asks why the subject holds the relation with the object in this sentence."""
    user = (
        f"Sentence: {sentence_text(inst)}\n"
        f"Subject: {inst.head_text}\n"
        f"Object: {inst.tail_text}\n"
        f"Relation: {_relation_line(schema)}\n\n"
        f"In two or three sentences, explain why {inst.head_text} has the relation \"{schema.name}\" "
        f"with {inst.tail_text} in this sentence. Name both entities and point to the words that show it.\n"
        'Answer with JSON only: {"explanation": "..."}'
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def demonstration(inst: RelationInstance) -> dict:
    """One demonstration as the JSON object SCDG asks for: the entities first, then the sentence naming them."""
    out = {"head": inst.head_text, "tail": inst.tail_text}
    if inst.head_type:
        out["head_type"] = inst.head_type
    if inst.tail_type:
        out["tail_type"] = inst.tail_type
    out["sentence"] = sentence_text(inst)
    return out


def scdg_messages(schema: RelationSchema, demonstrations: list[RelationInstance], m: int) -> list[dict]:
    """Asks for ``m`` new instances of the relation, constrained by its schema, after K demonstrations.

    The demonstrations are earlier turns of the conversation, one JSON object per answer, entities
    before the sentence: small models follow a format they have already "written" far better than
    one described in prose, and choosing the entities first makes them write a sentence that names them.
    """
    types = ""
    if schema.head_types:
        types += f" The head entity is of type: {', '.join(schema.head_types)}."
    if schema.tail_types:
        types += f" The tail entity is of type: {', '.join(schema.tail_types)}."
    ask = (f"Relation: {_relation_line(schema)}.{types}\n"
           "Name a head entity and a tail entity that have this relation, then write one short sentence "
           "that mentions both word for word. Answer with one JSON object with the keys "
           + ", ".join(f'"{k}"' for k in demonstration(demonstrations[0])) + ".")
    messages = [{"role": "system", "content": SYSTEM}]
    for i, inst in enumerate(demonstrations):
        messages.append({"role": "user", "content": ask if i == 0 else "Another one."})
        messages.append({"role": "assistant", "content": json.dumps(demonstration(inst), ensure_ascii=False)})
    more = "Another one" if m == 1 else f'Now {m} more, as {{"instances": [...]}}'
    messages.append({"role": "user", "content": f"{more}, with new entities and a new sentence."})
    return messages


EXPLANATION_SCHEMA = {
    "type": "object",
    "properties": {"explanation": {"type": "string"}},
    "required": ["explanation"],
}

INSTANCE_SCHEMA = {
    "type": "object",
    "properties": {k: {"type": "string"} for k in ("head", "tail", "head_type", "tail_type", "sentence")},
    "required": ["head", "tail", "sentence"],
}

INSTANCES_SCHEMA = {
    "type": "object",
    "properties": {"instances": {"type": "array", "items": INSTANCE_SCHEMA}},
    "required": ["instances"],
}


def response_format(kind: str, m: int = 1) -> dict:
    """The ``response_format`` for servers that support structured output (ignored by others)."""
    schema = EXPLANATION_SCHEMA if kind == "edkg" else INSTANCE_SCHEMA if m == 1 else INSTANCES_SCHEMA
    return {"type": "json_schema", "json_schema": {"name": f"tkre_{kind}", "schema": schema}}
