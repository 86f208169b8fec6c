"""Robust extraction of LLM answers: JSON (whole, fenced, embedded, one object per line) or line format.

The line format is the one of the reference code's SCDG prompts::

    Relation: founded by Context: Apple was founded by Steve Jobs . Head Entity: Apple Tail Entity: Steve Jobs

Usage::

    text = parse_explanation('{"explanation": "..."}')
    candidates = parse_instances(completion_text)   # list of dicts with sentence/head/tail[/types/relation]
"""

from __future__ import annotations

import json
import re


class ParseError(ValueError):
    """An answer with nothing usable in it; ``reason`` is the reject reason counted in the manifest."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)


def _json_spans(text: str) -> tuple[str, list[tuple[int, int, object]]]:
    """``(text, [(start, end, value)])`` for every top-level JSON object or array; inside code fences when there are any."""
    fenced = _FENCE.findall(text)
    if fenced:
        text = "\n".join(fenced)
    decoder, spans, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i] in "{[":
            try:
                value, end = decoder.raw_decode(text, i)
            except json.JSONDecodeError:
                i += 1
                continue
            spans.append((i, end, value))
            i = end
        else:
            i += 1
    return text, spans


def json_values(text: str) -> list:
    """Every top-level JSON object or array in ``text``, in order (code fences and prose around them skipped)."""
    return [value for _, _, value in _json_spans(text)[1]]


_ALIASES = {
    "sentence": ("sentence", "text", "context", "Sentence", "Context"),
    "head": ("head", "head_entity", "subject", "subj", "Head Entity", "head entity"),
    "tail": ("tail", "tail_entity", "object", "obj", "Tail Entity", "tail entity"),
    "head_type": ("head_type", "subject_type", "Head Type"),
    "tail_type": ("tail_type", "object_type", "Tail Type"),
    "relation": ("relation", "Relation"),
}


def _normalise_keys(item: dict) -> dict:
    out = {}
    for key, names in _ALIASES.items():
        for name in names:
            if name in item:
                out[key] = item[name]
                break
    return out


def _candidates_from_json(values: list) -> list[dict]:
    found = []
    for value in values:
        if isinstance(value, dict) and isinstance(value.get("instances", value.get("examples")), list):
            value = value.get("instances", value.get("examples"))
        items = value if isinstance(value, list) else [value]
        found.extend(_normalise_keys(x) if isinstance(x, dict) else {"raw": x} for x in items)
    return [x for x in found if x]


_LABELS = ("Relation", "Context", "Head Entity", "Tail Entity", "Head Type", "Tail Type")
_LABEL = re.compile(r"(?im)\b(" + "|".join(re.escape(x) for x in _LABELS) + r")\s*:")
_KEY_OF = {"relation": "relation", "context": "sentence", "head entity": "head", "tail entity": "tail",
           "head type": "head_type", "tail type": "tail_type"}


def _candidates_from_lines(text: str) -> list[dict]:
    """``Relation: ... Context: ... Head Entity: ... Tail Entity: ...`` records, on one line or several."""
    marks = list(_LABEL.finditer(text))
    found, current = [], {}
    for i, mark in enumerate(marks):
        key = _KEY_OF[mark.group(1).lower()]
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        value = text[mark.end() : end].strip().strip('"').strip()
        if key in current and current:  # a label seen again starts the next record
            found.append(current)
            current = {}
        current[key] = value
    if current:
        found.append(current)
    return [x for x in found if "sentence" in x]


_LOOSE_NAMES = "|".join(re.escape(n) for names in _ALIASES.values() for n in names)
_LOOSE_PAIR = re.compile(r'"(' + _LOOSE_NAMES + r')"\s*:\s*"(.*?)"\s*(?=,\s*"[\w ]+"\s*:|\})')


def _loose_object(chunk: str) -> dict:
    """An object that is JSON but for unescaped quotes inside a value: ``{"head": "X", "sentence": "the film "X" ..."}``.

    A value ends at the quote before the next ``, "key":`` or the closing brace.
    """
    return _normalise_keys({name: value.replace('\\"', '"') for name, value in _LOOSE_PAIR.findall(chunk)})


def parse_instances(text: str) -> list[dict]:
    """Candidate instances from an SCDG answer, in answer order; ``ParseError('no_instances')`` when there are none.

    Read: JSON values, one-line objects that fail JSON only for unescaped quotes, else the labelled line format.
    """
    text, spans = _json_spans(text)
    found = [(start, c) for start, _, value in spans for c in _candidates_from_json([value])]
    for chunk in re.finditer(r"\{[^\n{}]*\}", text):
        if not any(start <= chunk.start() < end for start, end, _ in spans):
            found.append((chunk.start(), _loose_object(chunk.group())))
    candidates = [c for _, c in sorted(found, key=lambda x: x[0]) if c]
    if not candidates:
        candidates = _candidates_from_lines(text)
    if not candidates:
        raise ParseError("no_instances", text[:80])
    return candidates


def parse_explanation(text: str) -> str:
    """The explanation from an EDKG answer: the JSON field, else the plain text; errors on empty answers."""
    for value in json_values(text):
        if isinstance(value, dict) and isinstance(value.get("explanation"), str):
            text = value["explanation"]
            break
    else:
        if re.search(r'^\s*(```|\{|\[)', text):
            match = re.search(r'"explanation"\s*:\s*"((?:[^"\\]|\\.)*)', text)
            if not match:
                raise ParseError("malformed_json", text[:80])
            text = match.group(1).replace('\\"', '"')
    text = re.sub(r"^\s*explanation\s*:\s*", "", text.strip(), flags=re.I).strip()
    if not text:
        raise ParseError("empty_explanation")
    return " ".join(text.split())
