"""Readers for FewRel JSON, TACRED-style JSON (Wiki80, TACRED) and SemEval JSON lines.

Every reader returns ``list[RelationInstance]`` and raises ``DataError`` naming the
file, the record and the field for the first malformed record; nothing is dropped.

Usage: ``instances = read_fewrel("data/fewrel/val_wiki.json")``
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tkre.data.instance import RelationInstance
from tkre.errors import DataError


def _load_json(path: Path, kind: type, expected: str) -> Any:
    """The parsed file, which must be a ``kind`` (dict or list) described by ``expected``."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(path, f"at line {e.lineno} column {e.colno}", "<json>", f"invalid JSON: {e.msg}") from None
    if not isinstance(data, kind):
        raise DataError(path, "<root>", "<root>", f"expected {expected}")
    return data


def _relation(record: dict, path: Path, where: object) -> str:
    relation = _field(record, "relation", path, where)
    if not isinstance(relation, str) or not relation:
        raise DataError(path, where, "relation", "expected a non-empty string")
    return relation


def _field(record: Any, key: str, path: Path, where: object) -> Any:
    if not isinstance(record, dict):
        raise DataError(path, where, "<record>", f"expected an object, got {type(record).__name__}")
    if key not in record:
        raise DataError(path, where, key, "missing")
    return record[key]


def _tokens(value: Any, path: Path, where: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise DataError(path, where, field, "expected a list of strings")
    if not value:
        raise DataError(path, where, field, "empty token list")
    return tuple(value)


def _span(start: Any, end: Any, n_tokens: int, path: Path, where: object, field: str) -> tuple[int, int]:
    """Checks a half-open span [start, end) against the sentence length."""
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool) or isinstance(end, bool):
        raise DataError(path, where, field, f"span bounds must be integers, got {start!r}, {end!r}")
    if not 0 <= start < end <= n_tokens:
        raise DataError(path, where, field, f"span [{start}, {end}) out of range for {n_tokens} tokens")
    return start, end


def _optional_str(record: dict, key: str, path: Path, where: object) -> str | None:
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise DataError(path, where, key, f"expected a string, got {type(value).__name__}")
    return value


def read_fewrel(path: str | Path) -> list[RelationInstance]:
    """FewRel: ``{pid: [{tokens, h: [name, qid, [[pos, ...], ...]], t: [...]}]}``; first mention kept."""
    path = Path(path)
    data = _load_json(path, dict, "an object mapping relation id to instances")
    out = []
    for relation, records in data.items():
        if not isinstance(records, list):
            raise DataError(path, relation, "<relation>", "expected a list of instances")
        for i, record in enumerate(records):
            where = f"{relation}[{i}]"
            tokens = _tokens(_field(record, "tokens", path, where), path, where, "tokens")
            spans = []
            for key in ("h", "t"):
                entity = _field(record, key, path, where)
                if not (isinstance(entity, list) and len(entity) == 3 and isinstance(entity[2], list) and entity[2]):
                    raise DataError(path, where, key, "expected [name, id, [[positions], ...]]")
                mention = entity[2][0]
                if not (isinstance(mention, list) and mention and all(isinstance(p, int) for p in mention)):
                    raise DataError(path, where, key, "expected a non-empty list of token positions")
                spans.append(_span(min(mention), max(mention) + 1, len(tokens), path, where, key))
            out.append(RelationInstance(tokens, spans[0], spans[1], relation))
    return out


def read_tacred(path: str | Path) -> list[RelationInstance]:
    """TACRED-style list: ``token``, inclusive ``subj_start/subj_end/obj_start/obj_end``, types, ``relation``."""
    path = Path(path)
    return tacred_instances(_load_json(path, list, "a list of instances"), path)


def tacred_instances(data: list, path: str | Path) -> list[RelationInstance]:
    """The records of a TACRED-style list already parsed from ``path`` (named in errors)."""
    out = []
    for i, record in enumerate(data):
        tokens = _tokens(_field(record, "token", path, i), path, i, "token")
        relation = _relation(record, path, i)
        bounds = {k: _field(record, k, path, i) for k in ("subj_start", "subj_end", "obj_start", "obj_end")}
        for k, v in bounds.items():
            if not isinstance(v, int) or isinstance(v, bool):
                raise DataError(path, i, k, f"expected an integer, got {v!r}")
        head = _span(bounds["subj_start"], bounds["subj_end"] + 1, len(tokens), path, i, "subj_start/subj_end")
        tail = _span(bounds["obj_start"], bounds["obj_end"] + 1, len(tokens), path, i, "obj_start/obj_end")
        out.append(
            RelationInstance(
                tokens, head, tail, relation,
                _optional_str(record, "subj_type", path, i), _optional_str(record, "obj_type", path, i),
            )
        )
    return out


def read_semeval(path: str | Path) -> list[RelationInstance]:
    """SemEval JSON lines: ``token``, ``h: {name, pos: [start, end)}``, ``t``, ``relation``."""
    path = Path(path)
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"line {lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(path, where, "<json>", f"invalid JSON: {e.msg}") from None
            tokens = _tokens(_field(record, "token", path, where), path, where, "token")
            relation = _relation(record, path, where)
            spans = []
            for key in ("h", "t"):
                pos = _field(_field(record, key, path, where), "pos", path, where)
                if not (isinstance(pos, list) and len(pos) == 2):
                    raise DataError(path, where, f"{key}.pos", "expected [start, end]")
                spans.append(_span(pos[0], pos[1], len(tokens), path, where, f"{key}.pos"))
            out.append(RelationInstance(tokens, spans[0], spans[1], relation))
    return out


def read_label_map(path: str | Path) -> dict[str, int]:
    """A ``rel2id.json``: relation name -> id, ids unique."""
    path = Path(path)
    data = _load_json(path, dict, "an object mapping relation name to integer id")
    if not all(isinstance(v, int) for v in data.values()):
        raise DataError(path, "<root>", "<ids>", "expected integer relation ids")
    if len(set(data.values())) != len(data):
        raise DataError(path, "<root>", "<ids>", "relation ids are not unique")
    return data


def read_pid2name(path: str | Path) -> dict[str, tuple[str, str]]:
    """FewRel's ``pid2name.json``: Wikidata property id -> (name, description)."""
    path = Path(path)
    data = _load_json(path, dict, "an object mapping property id to [name, description]")
    out = {}
    for pid, value in data.items():
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            raise DataError(path, pid, "<value>", "expected [name, description]")
        out[pid] = (value[0], value[1])
    return out
