"""Corpus hygiene: which explanations and synthetic instances are fit for pre-training, and a quality summary.

An explanation must name both entities (at word boundaries, as span masking finds them) and must
not echo the prompt. A synthetic instance's mentions must look like names: short, with a letter or
digit, no JSON or markup characters, and not cut short (the sentence does not go on with a
capitalised word or a number right after a mention, and neither mention is read off an occurrence
of the other, as "Eleanor" from "Eleanor of Aquitaine"). Synthesis rejects what fails (counted by
reason); reading a corpus applies the same rules, so an older corpus is cleaned too.

Usage::

    explanation_problem("Oslo is led by its mayor Marianne Borgen.", "Oslo", "Marianne Borgen")   # None
    entity_problem(tokens, head_span, tail_span, max_tokens=10)   # None, or "truncated_entity", ...
    corpus_quality(explanations, synthetic_instances, parsed_explanations=481)
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from tkre.data.instance import RelationInstance
from tkre.data.masking import find_mentions, relation_span

ECHOES = re.compile(r"\b(Sentence|Subject|Object|Relation):|<<|>>")  # the prompt's field labels, template brackets
MARKUP = set('{}[]<>"=:|\\')
WORDS = re.compile(r"\w+|[^\w\s]")


def explanation_problem(text: str, head: str, tail: str) -> str | None:
    """Why an explanation cannot be used, or None: it echoes the prompt, or does not name both entities."""
    if ECHOES.search(text):
        return "echoes_prompt"
    if not find_mentions(text, head):
        return "head_not_named"
    if not find_mentions(text, tail):
        return "tail_not_named"
    return None


def _occurrences(tokens, words) -> list[int]:
    """Start indices of ``words`` in ``tokens``, case-insensitively."""
    low, target = [t.lower() for t in tokens], [w.lower() for w in words]
    return [i for i in range(len(low) - len(target) + 1) if low[i : i + len(target)] == target]


def entity_problem(tokens, head: tuple[int, int], tail: tuple[int, int], max_tokens: int = 10) -> str | None:
    """Why two mention spans (half-open token spans) look wrong, or None: implausible, nested or truncated."""
    mentions = [tokens[head[0] : head[1]], tokens[tail[0] : tail[1]]]
    for words in mentions:
        text = "".join(words)
        if len(words) > max_tokens or not any(c.isalnum() for c in text) or any(c in MARKUP for c in text):
            return "implausible_entity"
    for (start, end), other in ((head, mentions[1]), (tail, mentions[0])):
        if any(s <= start and end <= s + len(other) for s in _occurrences(tokens, other)):
            return "nested_entities"  # "Eleanor" read off "Eleanor of Aquitaine": a cut-off copy of the other name
    for _, end in (head, tail):
        after = tokens[end] if end < len(tokens) else ""
        if after[:1].isupper() or after[:1].isdigit():
            return "truncated_entity"
    return None


def _span_words(text: str, head: str, tail: str) -> int | None:
    span = relation_span(find_mentions(text, head), find_mentions(text, tail))
    return None if span is None else len(WORDS.findall(text[span[0] : span[1]]))


def corpus_quality(explanations: list[dict], synthetic: list[RelationInstance], parsed_explanations: int,
                   relations=()) -> dict:
    """The share of parsed explanations kept (each names both entities), relation-span lengths (words between
    the closest mentions) of the kept explanations and synthetic instances, and synthetic instances per relation
    (over ``relations`` too, so a relation without any counts as 0)."""
    lengths = {"explanation": [_span_words(x["explanation"], x["head"], x["tail"]) for x in explanations],
               "synthetic": [min(abs(x.tail[0] - x.head[1]), abs(x.head[0] - x.tail[1])) for x in synthetic]}
    spans = {}
    for source, values in lengths.items():
        values = [v for v in values if v is not None]
        spans[source] = ({"n": len(values), "empty": sum(v == 0 for v in values),
                          **{f"p{q}": int(np.percentile(values, q)) for q in (10, 50, 90)}, "max": max(values)}
                         if values else {"n": 0})
    per_relation = Counter({r: 0 for r in relations})
    per_relation.update(x.relation for x in synthetic)
    counts = sorted(per_relation.values())
    return {"explanations_naming_both": round(len(explanations) / parsed_explanations, 4) if parsed_explanations else None,
            "relation_span_words": spans,
            "synthetic_per_relation": {"relations": len(counts), "min": counts[0] if counts else 0,
                                       "median": float(np.median(counts)) if counts else 0.0,
                                       "max": counts[-1] if counts else 0}}
