"""User records: one sentence with its head and tail, as a user writes it for prediction or support.

Two shapes (OpenNRE's), optional ``relation`` (support records need it) and entity ``type``s:

- character offsets: ``{"text": "Paris is in France.", "h": {"pos": [0, 5]}, "t": {"pos": [12, 18]}}``;
- tokens: ``{"tokens": ["Paris", "is", "in", "France"], "h": {"pos": [0, 1]}, "t": {"pos": [3, 4]}}``
  (``token`` works too), half-open token spans.

Text is split on whitespace and at the entity boundaries, so ``"Paris,"`` yields the mention ``Paris``.
Files are JSON lines, a JSON list or Parquet, local or ``s3://``; a bad record raises ``DataError``
naming the file, the record (``line N``, or the index N in a list or Parquet file) and the field.

Arrow batches (Ray Data) become ``(where, record)`` pairs through ``arrow_records``. A user's labelled data
file in any format (FewRel, TACRED, SemEval lines or records) reads through ``read_data_file``.

Usage::

    instances = read_records("queries.jsonl")                 # list[RelationInstance], relation "" if absent
    support = read_records("support.jsonl", need_relation=True)
    inst = record_instance({"text": ..., "h": {"pos": [0, 5]}, "t": {"pos": [12, 18]}}, "queries.jsonl", "line 1")
    instance_record(inst, id=7)     # back to a record: {"text", "h", "t"[, "relation"], "id": 7}
    read_data_file("pubmed.json")   # FewRel 2.0's format, inferred from its shape
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

from tkre.data.instance import RelationInstance
from tkre.data.readers import _field, _optional_str, _span, _tokens, read_fewrel, read_semeval, read_tacred
from tkre.errors import ConfigError, DataError, DataMissing

FORMATS = ("jsonl", "json", "parquet")


def _char_span(value: Any, length: int, path, where, field: str) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2):
        raise DataError(path, where, field, "expected [start, end]")
    return _span(value[0], value[1], length, path, where, field)


def split_text(text: str, spans: list[tuple[int, int]]) -> tuple[list[str], list[tuple[int, int]]]:
    """Whitespace tokens of ``text``, also cut at every span boundary; each token's character span."""
    cuts = sorted({0, len(text), *(c for span in spans for c in span)})
    tokens, chars = [], []
    for lo, hi in zip(cuts, cuts[1:]):
        for m in re.finditer(r"\S+", text[lo:hi]):
            tokens.append(m.group())
            chars.append((lo + m.start(), lo + m.end()))
    return tokens, chars


def _token_span(chars: list[tuple[int, int]], span: tuple[int, int], path, where, field: str) -> tuple[int, int]:
    inside = [i for i, (a, b) in enumerate(chars) if a >= span[0] and b <= span[1]]
    if not inside:
        raise DataError(path, where, field, f"characters [{span[0]}, {span[1]}) hold no word")
    return inside[0], inside[-1] + 1


def record_instance(record: Any, path, where, need_relation: bool = False) -> RelationInstance:
    """One user record as a ``RelationInstance`` (``relation`` is "" when the record has none)."""
    if not isinstance(record, dict):
        raise DataError(path, where, "<record>", f"expected an object, got {type(record).__name__}")
    entities = {key: _field(record, key, path, where) for key in ("h", "t")}
    for key, entity in entities.items():
        if not isinstance(entity, dict):
            raise DataError(path, where, key, 'expected an object like {"pos": [start, end]}')
        _field(entity, "pos", path, where)
    if "text" in record:
        text = record["text"]
        if not isinstance(text, str) or not text.strip():
            raise DataError(path, where, "text", "expected a non-empty string")
        spans = [_char_span(entities[k]["pos"], len(text), path, where, f"{k}.pos") for k in ("h", "t")]
        words, chars = split_text(text, spans)
        head, tail = (_token_span(chars, s, path, where, f"{k}.pos") for s, k in zip(spans, ("h", "t")))
        tokens = tuple(words)
    elif "tokens" in record or "token" in record:
        field = "tokens" if "tokens" in record else "token"
        tokens = _tokens(record[field], path, where, field)
        head, tail = (_char_span(entities[k]["pos"], len(tokens), path, where, f"{k}.pos") for k in ("h", "t"))
    else:
        raise DataError(path, where, "text", "missing (give text with character offsets, or tokens with token spans)")
    relation = _optional_str(record, "relation", path, where) or ""
    if need_relation and not relation:
        raise DataError(path, where, "relation", "missing: support records name their relation")
    types = [_optional_str(entities[k], "type", path, where) for k in ("h", "t")]
    return RelationInstance(tokens, head, tail, relation, *types)


def instance_record(inst: RelationInstance, **extra) -> dict:
    """A tokenized instance as a user record: the tokens joined by spaces, the entities as character offsets."""
    starts, at = [], 0
    for token in inst.tokens:
        starts.append(at)
        at += len(token) + 1
    pos = [[starts[a], starts[b - 1] + len(inst.tokens[b - 1])] for a, b in (inst.head, inst.tail)]
    relation = {"relation": inst.relation} if inst.relation else {}
    return {"text": " ".join(inst.tokens), "h": {"pos": pos[0]}, "t": {"pos": pos[1]}, **relation, **extra}


def record_format(uri: str, given: str | None = None) -> str:
    """``given``, or the format the file name says (``.jsonl``, ``.json``, ``.parquet``)."""
    fmt = given or {".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}.get(PurePosixPath(uri).suffix)
    if fmt not in FORMATS:
        raise DataError(uri, "<file>", "<format>", f"cannot tell the format: name it .jsonl, .json or .parquet, "
                        f"or give one of {', '.join(FORMATS)}")
    return fmt


def raw_records(uri: str, fmt: str | None = None) -> list[tuple[str, Any]]:
    """``(where, record)`` for every record of a local or ``s3://`` file."""
    from tkre.storage import read_file

    fmt = record_format(uri, fmt)
    try:
        data = read_file(uri)
    except FileNotFoundError:
        raise DataMissing(f"{uri} not found") from None
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(enumerate(pq.read_table(io.BytesIO(data)).to_pylist()))
    text = data.decode("utf-8")
    if fmt == "json":
        try:
            records = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(uri, f"at line {e.lineno} column {e.colno}", "<json>", f"invalid JSON: {e.msg}") from None
        if not isinstance(records, list):
            raise DataError(uri, "<root>", "<root>", "expected a list of records")
        return list(enumerate(records))
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                out.append((f"line {lineno}", json.loads(line)))
            except json.JSONDecodeError as e:
                raise DataError(uri, f"line {lineno}", "<json>", f"invalid JSON: {e.msg}") from None
    return out


def read_records(uri: str, fmt: str | None = None, need_relation: bool = False) -> list[RelationInstance]:
    """Every record of a file as a ``RelationInstance``; the first bad record raises ``DataError``."""
    return [record_instance(r, uri, where, need_relation) for where, r in raw_records(uri, fmt)]


def arrow_records(batch) -> list[tuple[str, dict]]:
    """``(where, record)`` of an Arrow batch: null fields (another record's columns) dropped, each record
    named by its ``id``, else by the start of its text."""
    records = [{k: v for k, v in r.items() if v is not None} for r in batch.to_pylist()]
    return [(f"id {r['id']}" if "id" in r else f"with text {str(r.get('text', r.get('tokens')))[:40]!r}", r)
            for r in records]


FILE_FORMATS = ("fewrel", "tacred", "semeval", "records")  # a user's own data file (read_data_file)


def file_format(path: str | Path) -> str:
    """A data file's format, from its shape: a FewRel object, a TACRED-style list (Wiki80, TACRED),
    SemEval-style JSON lines (``token``, ``h.pos``), or user records (``tkre.data.records``)."""
    path = Path(path)
    if not path.is_file():
        raise DataMissing(f"data file {path} not found")
    if path.suffix == ".parquet":
        return "records"
    if path.suffix == ".json":
        data = _first_json(path)
        if isinstance(data, dict):
            return "fewrel"
        return "tacred" if data and isinstance(data[0], dict) and "subj_start" in data[0] else "records"
    with open(path, encoding="utf-8") as f:
        first = next((line for line in f if line.strip()), "{}")
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        return "records"  # the records reader names the bad line
    return "semeval" if isinstance(record, dict) and "token" in record and "text" not in record else "records"


def _first_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None  # the reader of the inferred format names where it breaks


def read_data_file(path: str | Path, fmt: str | None = None) -> list[RelationInstance]:
    """Every labelled instance of a user's data file; ``fmt`` (one of ``FILE_FORMATS``) or inferred."""
    fmt = fmt or file_format(path)
    if fmt not in FILE_FORMATS:
        raise ConfigError(f"data format {fmt!r}: choose one of {', '.join(FILE_FORMATS)}")
    if fmt == "records":
        return read_records(str(path), need_relation=True)
    return {"fewrel": read_fewrel, "tacred": read_tacred, "semeval": read_semeval}[fmt](path)
