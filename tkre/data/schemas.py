"""Relation schemas: relation id -> name, description and (where known) allowed entity types.

The schema types and the sources they are built from; each registered dataset names its source
(``tkre.data.datasets``, where ``relation_schemas`` resolves a source for synthesis prompts,
description prototypes and meta-training):

- ``fewrel``: FewRel's ``pid2name.json``, keyed by Wikidata property id (``P931``);
- ``wiki80``: the same file keyed by relation name (Wiki80 labels relations by name);
- ``semeval``: SemEval-2010 Task 8's nine relations (after the task guidelines), both directions, and ``Other``;
- a user file (``.json``, ``.yaml`` or ``.yml``): ``{relation: {name, description[, head_types, tail_types]}}``.

A relation missing from its source falls back to its key written as words and is counted
(``Schemas.fallback``), never an error.

Usage::

    schemas = relation_schemas(["P931", "P4552"], "fewrel")     # tkre.data.datasets
    schemas["P931"].text        # "place served by transport hub: territorial entity or entities served by ..."
    schemas.fallback            # relations that fell back to their key as words
    read_schema_file("schema.yaml")                              # a user's file
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from tkre.data.instance import RelationInstance, group_by_relation
from tkre.data.readers import read_pid2name
from tkre.errors import DataError, DataMissing


@dataclass(frozen=True)
class RelationSchema:
    """What is known about one relation: its name, description and allowed entity types."""

    name: str
    description: str = ""
    head_types: tuple[str, ...] = ()
    tail_types: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """What a description prototype encodes: ``"name: description"``, or the name alone."""
        return f"{self.name}: {self.description}" if self.description else self.name


class Schemas(dict):
    """``relation -> RelationSchema`` for the relations asked for; ``fallback`` lists those the source lacked."""

    def __init__(self, schemas: dict[str, RelationSchema], source: str, fallback: list[str]):
        super().__init__(schemas)
        self.source, self.fallback = source, sorted(fallback)

    def summary(self) -> dict:
        return {"source": self.source, "relations": len(self), "fallback": len(self.fallback),
                "fallback_relations": self.fallback}


def key_as_words(key: str) -> str:
    """``is_primary_anatomic_site_of_disease`` -> ``is primary anatomic site of disease``."""
    words = re.sub(r"([a-z])([A-Z])", r"\1 \2", key)
    return " ".join(re.split(r"[\s_\-/:.]+", words)).strip().lower() or key


# SemEval-2010 Task 8: the nine relations as the task guidelines define them, in our own words;
# (e1,e2) means the first-marked entity (our head) fills the first role.
_SEMEVAL = {
    "Cause-Effect": ("cause", "effect", "an event or object that leads to an effect"),
    "Instrument-Agency": ("instrument", "agency", "an agent that uses an instrument"),
    "Product-Producer": ("product", "producer", "a producer that causes a product to exist"),
    "Content-Container": ("content", "container", "an object that is physically stored in a delineated area of space"),
    "Entity-Origin": ("entity", "origin", "an entity that comes or is derived from an origin"),
    "Entity-Destination": ("entity", "destination", "an entity that moves towards a destination"),
    "Component-Whole": ("component", "whole", "an object that is a component of a larger whole"),
    "Member-Collection": ("member", "collection", "a member that forms a nonfunctional part of a collection"),
    "Message-Topic": ("message", "topic", "a written or spoken message that is about a topic"),
}


def semeval_schemas() -> dict[str, RelationSchema]:
    """Both directions of SemEval's nine relations, plus ``Other``."""
    out = {"Other": RelationSchema("other", "none of the nine relations holds between the two entities")}
    for relation, (first, second, gloss) in _SEMEVAL.items():
        out[f"{relation}(e1,e2)"] = RelationSchema(f"{first} {second}", f"{gloss}; the head is the {first}, the tail the {second}")
        out[f"{relation}(e2,e1)"] = RelationSchema(f"{second} {first}", f"{gloss}; the head is the {second}, the tail the {first}")
    return out


def pid2name_schemas(path: Path, by: str = "pid") -> dict[str, RelationSchema]:
    """FewRel's ``pid2name.json`` as schemas keyed by property id (``by="pid"``, FewRel) or by name (Wiki80)."""
    out = {}
    for pid, (name, description) in read_pid2name(path).items():
        out[pid if by == "pid" else name] = RelationSchema(name, "" if description == "No description defined" else description)
    return out


def _types(value, path: Path, relation: str, field: str) -> tuple[str, ...]:
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise DataError(path, relation, field, "expected a list of entity type names")
    return tuple(value)


def read_schema_file(path: str | Path) -> dict[str, RelationSchema]:
    """A user schema file (JSON or YAML): ``{relation: {name, description[, head_types, tail_types]}}``."""
    path = Path(path)
    if not path.is_file():
        raise DataMissing(f"schema file {path} not found")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise DataError(path, "<root>", "<file>", f"cannot parse: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise DataError(path, "<root>", "<root>", "expected an object mapping relation to {name, description}")
    out = {}
    for relation, entry in data.items():
        relation = str(relation)
        if not isinstance(entry, dict):
            raise DataError(path, relation, "<value>", "expected an object with name and description")
        unknown = sorted(set(entry) - {"name", "description", "head_types", "tail_types"})
        if unknown:
            raise DataError(path, relation, unknown[0], "unknown field (expected name, description, head_types, tail_types)")
        for field in ("name", "description"):
            if field in entry and not isinstance(entry[field], str):
                raise DataError(path, relation, field, f"expected a string, got {type(entry[field]).__name__}")
        name = entry.get("name") or key_as_words(relation)
        out[relation] = RelationSchema(name, entry.get("description", ""),
                                       _types(entry.get("head_types", []), path, relation, "head_types"),
                                       _types(entry.get("tail_types", []), path, relation, "tail_types"))
    return out


def with_entity_types(schemas: Schemas, instances: list[RelationInstance]) -> Schemas:
    """Fills each schema's allowed entity types, where the source gave none, from those seen in ``instances``."""
    out = dict(schemas)
    for relation, ids in group_by_relation(instances).items():
        if relation not in out:
            continue
        schema = out[relation]
        heads = schema.head_types or tuple(sorted({instances[i].head_type for i in ids if instances[i].head_type}))
        tails = schema.tail_types or tuple(sorted({instances[i].tail_type for i in ids if instances[i].tail_type}))
        out[relation] = replace(schema, head_types=heads, tail_types=tails)
    return Schemas(out, schemas.source, schemas.fallback)
