"""The pre-training corpus: explanations, synthetic instances and the gold support as texts with two mentions.

A synthesis output (local folder or ``s3://`` prefix) holds ``explanations.jsonl`` (one row per
explained support instance, pointing at it by ``support_index``) and ``synthetic.json`` (Wiki80
layout). The support list is rebuilt from the synthesis config, and every explanation is checked
against the instance it points to, so a corpus paired with the wrong support set is an error.

Usage::

    synthesis = read_synthesis("runs/synth_wiki80_k8")
    texts = pretraining_texts(synthesis, support, sources=("explanation", "synthetic", "support"))
    texts = pretraining_texts(synthesis, support, support_k=2, synthetic_per_relation=0)   # shot settings
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from tkre.data.instance import RelationInstance
from tkre.data.quality import entity_problem, explanation_problem
from tkre.data.readers import tacred_instances
from tkre.data.splits import SupportConfig, support_instances
from tkre.errors import DataError, DataMissing
from tkre.storage import CONFIG, open_storage

SOURCES = ("explanation", "synthetic", "support")
_EXPLANATION_FIELDS = {"relation": str, "support_index": int, "head": str, "tail": str, "explanation": str}


@dataclass(frozen=True)
class PretrainText:
    """One pre-training text, its head and tail mentions, its relation and where it came from."""

    text: str
    head: str
    tail: str
    relation: str
    source: str


@dataclass
class SynthesisOutput:
    uri: str
    explanations: list[dict]
    synthetic: list[RelationInstance]
    config_yaml: str


def synthesis_file(storage, name: str) -> str:
    """One file of a synthesis output; ``DataMissing`` when it is not there (not a synthesis output?)."""
    if not storage.exists(name):
        raise DataMissing(f"{storage.uri}/{name} not found: corpus must be a synthesis output (tkre synth)")
    return storage.read_text(name)


def read_synthesis(uri: str) -> SynthesisOutput:
    """Reads and checks ``explanations.jsonl``, ``synthetic.json`` and ``config.yaml`` of a synthesis output."""
    storage = open_storage(uri)
    path = f"{storage.uri}/explanations.jsonl"
    explanations = []
    for line_no, line in enumerate(synthesis_file(storage, "explanations.jsonl").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(path, f"line {line_no}", "<json>", f"invalid JSON: {e.msg}") from None
        if not isinstance(row, dict):
            raise DataError(path, f"line {line_no}", "<record>", "expected an object")
        for name, kind in _EXPLANATION_FIELDS.items():
            if not isinstance(row.get(name), kind) or isinstance(row.get(name), bool) or row.get(name) == "":
                raise DataError(path, f"line {line_no}", name, f"expected a non-empty {kind.__name__}, got {row.get(name)!r}")
        explanations.append({**row, "line": line_no})
    path = f"{storage.uri}/synthetic.json"
    try:
        data = json.loads(synthesis_file(storage, "synthetic.json"))
    except json.JSONDecodeError as e:
        raise DataError(path, f"at line {e.lineno} column {e.colno}", "<json>", f"invalid JSON: {e.msg}") from None
    if not isinstance(data, list):
        raise DataError(path, "<root>", "<root>", "expected a list of instances")
    return SynthesisOutput(storage.uri, explanations, tacred_instances(data, path), synthesis_file(storage, CONFIG))


def _from_instance(inst: RelationInstance, source: str) -> PretrainText:
    return PretrainText(" ".join(inst.tokens), inst.head_text, inst.tail_text, inst.relation, source)


def first_per_relation(relations: list[str], limit: int | None) -> list[int]:
    """Indices of the first ``limit`` items of each relation, in order (all of them when ``limit`` is None)."""
    seen: dict[str, int] = {}
    keep = []
    for i, relation in enumerate(relations):
        seen[relation] = seen.get(relation, 0) + 1
        if limit is None or seen[relation] <= limit:
            keep.append(i)
    return keep


def pretraining_texts(synthesis: SynthesisOutput, support: list[RelationInstance], sources: tuple[str, ...] = SOURCES,
                      support_k: int | None = None, synthetic_per_relation: int | None = None,
                      dropped: Counter | None = None, hygiene: bool = True) -> list[PretrainText]:
    """The texts of the chosen ``sources``; explanations must point at a matching support instance.

    Corpus hygiene (``tkre.data.quality``) applies here too, so an older corpus is cleaned as it is
    read: explanations that echo the prompt or miss a mention, synthetic instances with implausible,
    nested or truncated mentions are left out and counted by reason in ``dropped`` (``hygiene=False``
    keeps them all, for measuring what the hygiene is worth).

    Shot settings: ``support_k`` keeps the first K support instances of each relation and the
    explanations of those instances (what a synthesis from a K-shot support explains);
    ``synthetic_per_relation`` keeps the first N synthetic instances of each relation.
    """
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown:
        raise ValueError(f"corpus sources {unknown} are not among {list(SOURCES)}")
    for name, value in (("support_k", support_k), ("synthetic_per_relation", synthetic_per_relation)):
        if value is not None and value < 0:
            raise ValueError(f"{name}: expected a count >= 0 or null (all), got {value}")
    kept = set(first_per_relation([x.relation for x in support], support_k))
    dropped = Counter() if dropped is None else dropped
    texts = []
    if "explanation" in sources:
        path = f"{synthesis.uri}/explanations.jsonl"
        for row in synthesis.explanations:
            index = row["support_index"]
            inst = support[index] if 0 <= index < len(support) else None
            if inst is None or (inst.relation, inst.head_text, inst.tail_text) != (row["relation"], row["head"], row["tail"]):
                raise DataError(path, f"line {row['line']}", "support_index",
                                f"{index} does not point at a {row['relation']!r} instance with these mentions in the "
                                f"{len(support)}-instance support set (a corpus made from another support config?)")
            if index not in kept:
                continue
            problem = hygiene and explanation_problem(row["explanation"], row["head"], row["tail"])
            if problem:
                dropped[f"explanation: {problem}"] += 1
            else:
                texts.append(PretrainText(row["explanation"], row["head"], row["tail"], row["relation"], "explanation"))
    if "synthetic" in sources:
        synthetic = []
        for inst in synthesis.synthetic:
            problem = hygiene and entity_problem(inst.tokens, inst.head, inst.tail)
            if problem:
                dropped[f"synthetic: {problem}"] += 1
            else:
                synthetic.append(inst)
        texts += [_from_instance(synthetic[i], "synthetic")
                  for i in first_per_relation([x.relation for x in synthetic], synthetic_per_relation)]
    if "support" in sources:
        texts += [_from_instance(support[i], "support") for i in sorted(kept)]
    return texts


def synthesis_support(uri: str, config_yaml: str | None = None) -> SupportConfig:
    """The support record of the synthesis output at ``uri`` (its ``config.yaml``'s ``support``, read unless
    given as ``config_yaml``), typed and checked."""
    import yaml

    from tkre.config import from_dict

    text = synthesis_file(open_storage(uri), CONFIG) if config_yaml is None else config_yaml
    return from_dict(SupportConfig, (yaml.safe_load(text) or {}).get("support") or {}, f"{uri}/{CONFIG}: support")


def support_of(synthesis: SynthesisOutput, root=None) -> list[RelationInstance]:
    """The support set the synthesis output explained, rebuilt from its support record."""
    return support_instances(synthesis_support(synthesis.uri, synthesis.config_yaml), root)[1]
