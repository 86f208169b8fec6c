"""From support instances to requests, and from request records to the corpus the next stage reads.

Outputs: ``explanations.jsonl`` (one explanation per support instance: relation, its index in the
support list, the two mentions and the text; the sentence itself stays in the dataset) and ``synthetic.json``
(accepted instances in the Wiki80/TACRED layout, so ``read_tacred`` reads it), plus the rejects
counted by reason.

Usage::

    support, schemas, evaluation = load_support(cfg)   # schemas from cfg.support.schema (tkre.data.schemas)
    rows = edkg_requests(schemas, support, "smollm2", {"temperature": 0.7, "max_tokens": 160})
    explanations, rejects = collect_explanations(records_in_request_order)
"""

from __future__ import annotations

from collections import Counter

from tkre.data.datasets import load_split, relation_schemas
from tkre.data.instance import RelationInstance, group_by_relation
from tkre.data.pretrain import first_per_relation
from tkre.data.quality import explanation_problem
from tkre.data.schemas import RelationSchema, Schemas, with_entity_types
from tkre.data.splits import support_instances
from tkre.synth.config import SynthConfig
from tkre.synth.parsing import ParseError, parse_explanation, parse_instances
from tkre.synth.prompts import EDKG_VERSION, SCDG_VERSION, edkg_messages, response_format, scdg_messages
from tkre.synth.records import make_request
from tkre.synth.validation import OverlapIndex, Rejected, ValidationRules, Validator


def load_support(cfg: SynthConfig) -> tuple[list[RelationInstance], Schemas, OverlapIndex]:
    """Support instances, their relation schemas, and the evaluation sentences synthetic ones must not copy."""
    root = cfg.data_dir
    task, support = support_instances(cfg.support, root)
    relations = {x.relation for x in support}
    schemas = relation_schemas(relations, cfg.support.schema or cfg.support.dataset, root)
    schemas = with_entity_types(schemas, support + [x for x in task.dev if x.relation in relations])
    avoid = [x.tokens for x in task.dev + task.test]  # the task's own dev and test (in-task synthesis)
    for item in cfg.scdg.avoid:
        dataset, _, split = item.partition("/")
        avoid.extend(x.tokens for x in load_split(dataset, split, root))
    return support, schemas, OverlapIndex(avoid)


def edkg_requests(schemas: dict[str, RelationSchema], support: list[RelationInstance], model: str, params: dict,
                  per_relation: int | None = None) -> list[dict]:
    """One explanation request per support instance: the first ``per_relation`` of each relation (None: all)."""
    rows = []
    for i in first_per_relation([x.relation for x in support], per_relation):
        inst = support[i]
        meta = {"relation": inst.relation, "support_index": i, "prompt": EDKG_VERSION}
        rows.append(make_request("edkg", edkg_messages(schemas[inst.relation], inst), model, params, meta,
                                 response_format("edkg")))
    return rows


def scdg_requests(schemas: dict[str, RelationSchema], support: list[RelationInstance], relations: list[str],
                  model: str, params: dict, m: int, attempt: int) -> list[dict]:
    """One request for ``m`` new instances per relation; ``attempt`` seeds the sampling, so each attempt is a new key."""
    groups = group_by_relation(support)
    rows = []
    for relation in relations:
        demos = [support[i] for i in groups[relation]]
        meta = {"relation": relation, "attempt": attempt, "prompt": SCDG_VERSION}
        rows.append(make_request("scdg", scdg_messages(schemas[relation], demos, m), model,
                                 {**params, "seed": attempt}, meta, response_format("scdg", m)))
    return rows


def collect_explanations(records: list[dict], support: list[RelationInstance]) -> tuple[list[dict], Counter]:
    """Explanation rows from done EDKG records; unparseable answers, prompt echoes and explanations that do not
    name both entities (at word boundaries, as span masking finds them) counted by reason."""
    rows, rejects = [], Counter()
    for record in records:
        if record["status"] != "done":
            continue
        try:
            text = parse_explanation(record["text"])
        except ParseError as error:
            rejects[error.reason] += 1
            continue
        index = record["meta"]["support_index"]
        inst = support[index]
        reason = explanation_problem(text, inst.head_text, inst.tail_text)
        if reason:
            rejects[reason] += 1
            continue
        rows.append({"relation": inst.relation, "support_index": index, "head": inst.head_text,
                     "tail": inst.tail_text, "explanation": text, "key": record["key"]})
    return rows, rejects


def tacred_row(inst: RelationInstance, key: str) -> dict:
    """An instance in the Wiki80/TACRED layout (inclusive ends) with the request key it came from."""
    return {"token": list(inst.tokens), "subj_start": inst.head[0], "subj_end": inst.head[1] - 1,
            "obj_start": inst.tail[0], "obj_end": inst.tail[1] - 1, "subj_type": inst.head_type,
            "obj_type": inst.tail_type, "relation": inst.relation, "key": key}


def collect_synthetic(records: list[dict], schemas: dict[str, RelationSchema], support: list[RelationInstance],
                      evaluation: OverlapIndex, rules: ValidationRules, per_relation: int):
    """Validates SCDG candidates in request order; keeps at most ``per_relation`` per relation.

    Returns ``(rows, accepted_per_relation, rejects, rejected_rows)``.
    """
    groups = group_by_relation(support)
    validators = {r: Validator(r, s, [support[i] for i in groups.get(r, [])], evaluation, rules) for r, s in schemas.items()}
    accepted: Counter = Counter({r: 0 for r in schemas})
    rows, rejects, rejected_rows = [], Counter(), []
    for record in records:
        if record["status"] != "done":
            continue
        relation = record["meta"]["relation"]
        try:
            candidates = parse_instances(record["text"])
        except ParseError as error:
            rejects[error.reason] += 1
            rejected_rows.append({"key": record["key"], "relation": relation, "reason": error.reason})
            continue
        for candidate in candidates:
            if accepted[relation] >= per_relation:
                rejects["over_quota"] += 1
                continue
            try:
                inst = validators[relation].check(candidate)
            except Rejected as reject:
                rejects[reject.reason] += 1
                rejected_rows.append({"key": record["key"], "relation": relation, "reason": reject.reason,
                                      "candidate": candidate})
                continue
            accepted[relation] += 1
            rows.append(tacred_row(inst, record["key"]))
    return rows, accepted, rejects, rejected_rows
