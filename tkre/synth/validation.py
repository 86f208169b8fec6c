"""Validation of synthetic candidates: every rejected candidate gets one counted reason.

Rules, in order: required fields; relation echoes the target; length bounds; head and tail are
different mentions found in the sentence at word boundaries (case-insensitive) that map to token
spans; entity types within the schema; not a copy (normalised exact match or token-set Jaccard at
or above ``max_overlap``) of a demonstration or of any evaluation sentence; plausible mentions
(``tkre.data.quality.entity_problem``: at most ``max_entity_tokens`` tokens, a letter or digit in
each, no JSON or markup characters, not read off the other mention, not cut short before a
capitalised word or a number); no duplicate within the relation.

Usage::

    index = OverlapIndex([x.tokens for x in evaluation_instances])
    validator = Validator("founded_by", schema, demonstrations, index, ValidationRules())
    try:
        instance = validator.check(candidate)      # a RelationInstance
    except Rejected as reject:
        counts[reject.reason] += 1
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from tkre.config import fraction, positive
from tkre.data.instance import RelationInstance
from tkre.data.quality import entity_problem
from tkre.data.schemas import RelationSchema

_WORD = re.compile(r"\w+|[^\w\s]")


class Rejected(ValueError):
    """A candidate that fails a rule; ``reason`` is the key counted in the manifest."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass
class ValidationRules:
    min_tokens: int = positive(5)
    max_tokens: int = positive(80)
    max_overlap: float = fraction(0.8)  # token-set Jaccard at or above this is a near copy
    max_entity_tokens: int = positive(10)


def tokenize(text: str) -> list[re.Match]:
    """Words and punctuation marks, with their character offsets."""
    return list(_WORD.finditer(text))


def _words(tokens) -> list[str]:
    """Lower-cased words of a token sequence, re-split like generated text (so "U.S." matches "U . S .")."""
    return [m.group().lower() for m in _WORD.finditer(" ".join(tokens))]


def normalise(tokens) -> str:
    return " ".join(_words(tokens))


def word_set(tokens) -> frozenset[str]:
    return frozenset(w for w in _words(tokens) if any(c.isalnum() for c in w))


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class OverlapIndex:
    """Sentences to keep synthetic data away from: exact (normalised) and near (Jaccard) look-ups."""

    def __init__(self, sentences: list, rare_fraction: float = 0.02):
        self.exact = {normalise(s) for s in sentences}
        self.sets = [word_set(s) for s in sentences]
        df = Counter(w for s in self.sets for w in s)
        limit = max(2, int(rare_fraction * len(self.sets)))
        self.postings: dict[str, list[int]] = {}
        for i, s in enumerate(self.sets):
            for w in s:
                if df[w] <= limit:
                    self.postings.setdefault(w, []).append(i)

    def __len__(self) -> int:
        return len(self.sets)

    def max_overlap(self, tokens) -> float:
        """Highest Jaccard with any indexed sentence that shares a rare word (near copies always do)."""
        words = word_set(tokens)
        shared = Counter(i for w in words for i in self.postings.get(w, ()))
        return max((jaccard(words, self.sets[i]) for i, _ in shared.most_common(20)), default=0.0)


def _mention_span(mention: str, text: str, words: list[re.Match], taken: tuple[int, int] | None, side: str):
    """Token span of the first word-boundary occurrence of ``mention`` that does not overlap ``taken``."""
    pattern = re.compile(r"(?<!\w)" + re.escape(mention) + r"(?!\w)", re.I)
    starts = {m.start(): i for i, m in enumerate(words)}
    ends = {m.end(): i + 1 for i, m in enumerate(words)}
    found = False
    for match in pattern.finditer(text):
        found = True
        span = (starts.get(match.start()), ends.get(match.end()))
        if None in span:
            continue
        if taken and span[0] < taken[1] and taken[0] < span[1]:
            continue
        return span
    raise Rejected(f"{side}_not_in_sentence" if not found else f"{side}_span_not_aligned")


def _entity_type(candidate: dict, key: str, allowed: tuple[str, ...]) -> str | None:
    value = candidate.get(key)
    if not allowed:
        return value if isinstance(value, str) and value.strip() else None
    if not isinstance(value, str) or not value.strip():
        if len(allowed) == 1:
            return allowed[0]
        raise Rejected(f"{key}_missing")
    by_lower = {t.lower(): t for t in allowed}
    if value.strip().lower() not in by_lower:
        raise Rejected(f"{key}_outside_schema")
    return by_lower[value.strip().lower()]


class Validator:
    """Checks candidates for one relation; remembers what it accepted to reject duplicates."""

    def __init__(self, relation: str, schema: RelationSchema, demonstrations: list[RelationInstance],
                 evaluation: OverlapIndex, rules: ValidationRules):
        self.relation = relation  # the label accepted instances carry: the relation's key, not its schema name
        self.schema, self.evaluation, self.rules = schema, evaluation, rules
        self.demo_exact = {normalise(x.tokens) for x in demonstrations}
        self.demo_sets = [word_set(x.tokens) for x in demonstrations]
        self.accepted: set[str] = set()

    def check(self, candidate: dict) -> RelationInstance:
        fields = [candidate.get(k) for k in ("sentence", "head", "tail")]
        if not all(isinstance(v, str) and v.strip() for v in fields):
            raise Rejected("missing_field")
        sentence, head, tail = (" ".join(v.split()) for v in fields)
        relation = candidate.get("relation")
        if isinstance(relation, str) and relation.strip().lower() != self.schema.name.lower():
            raise Rejected("relation_mismatch")
        words = tokenize(sentence)
        if len(words) < self.rules.min_tokens:
            raise Rejected("too_short")
        if len(words) > self.rules.max_tokens:
            raise Rejected("too_long")
        if head.lower() == tail.lower():
            raise Rejected("same_entity")
        head_span = _mention_span(head, sentence, words, None, "head")
        tail_span = _mention_span(tail, sentence, words, head_span, "tail")
        tokens = tuple(m.group() for m in words)
        head_type = _entity_type(candidate, "head_type", self.schema.head_types)
        tail_type = _entity_type(candidate, "tail_type", self.schema.tail_types)
        key, words_set = normalise(tokens), word_set(tokens)
        if key in self.demo_exact:
            raise Rejected("copy_of_demonstration")
        if any(jaccard(words_set, s) >= self.rules.max_overlap for s in self.demo_sets):
            raise Rejected("near_copy_of_demonstration")
        if key in self.evaluation.exact:
            raise Rejected("copy_of_evaluation")
        if self.evaluation.max_overlap(tokens) >= self.rules.max_overlap:
            raise Rejected("near_copy_of_evaluation")
        problem = entity_problem(tokens, head_span, tail_span, self.rules.max_entity_tokens)
        if problem:
            raise Rejected(problem)
        if key in self.accepted:
            raise Rejected("duplicate")
        self.accepted.add(key)
        return RelationInstance(tokens, head_span, tail_span, self.relation, head_type, tail_type)
