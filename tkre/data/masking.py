"""Span masking for MSLM: mask rates by region (relation span, entity mentions, elsewhere).

Mentions are found in the text at word boundaries, case-insensitively, and mapped to tokens
through the tokenizer's character offsets, never by searching token ids (which misses
byte-level BPE tokens that carry a leading space). The relation span is the text strictly
between the closest pair of head and tail mentions. A text missing a mention gets only the
``other`` rate, and the masker counts it. With ``markers`` the closest pair is wrapped in the
downstream entity markers (``@ head @ ... # tail #``, as ``tkre.data.markers``); marker tokens are
never masked and belong to no span.

Usage::

    masker = SpanMasker(tokenizer, MaskingRates(relation=0.8, entity=0.5, other=0.2), max_length=128)
    item = masker.encode("Phoenix is governed by its mayor Greg Stanton .", "Phoenix", "Greg Stanton")
    input_ids, labels = mask_tokens(item.input_ids, item.probabilities, masker.mask_token_id, generator)  # tkre.train.batches
    masker.counts   # Counter({'both_mentions': 1})
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from tkre.config import fraction

OTHER, ENTITY, RELATION, SPECIAL = 0, 1, 2, 3  # token regions


@dataclass(frozen=True)
class MaskingRates:
    """MSLM's chance of masking a token inside the relation span, inside an entity mention, and elsewhere."""

    relation: float = fraction(0.8)
    entity: float = fraction(0.5)
    other: float = fraction(0.2)


@dataclass(frozen=True)
class MaskedText:
    """One tokenised text with each token's region and masking probability."""

    input_ids: list[int]
    regions: list[int]
    probabilities: list[float]
    status: str  # both_mentions, head_missing, tail_missing, both_missing


def find_mentions(text: str, mention: str) -> list[tuple[int, int]]:
    """Half-open character spans of ``mention`` in ``text``: case-insensitive, whole words only."""
    mention = mention.strip()
    if not mention:
        return []
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in mention.split()) + r"(?!\w)"
    return [m.span() for m in re.finditer(pattern, text, re.IGNORECASE)]


def closest_pair(heads: list[tuple[int, int]], tails: list[tuple[int, int]]):
    """The non-overlapping (head, tail) mention pair with the fewest characters between them, or None."""
    best, best_gap = None, None
    for h in heads:
        for t in tails:
            first, second = (h, t) if h[0] <= t[0] else (t, h)
            if first[1] > second[0]:
                continue  # overlapping mentions
            if best_gap is None or second[0] - first[1] < best_gap:
                best, best_gap = (h, t), second[0] - first[1]
    return best


def relation_span(heads: list[tuple[int, int]], tails: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The characters strictly between the closest non-overlapping head and tail mentions."""
    pair = closest_pair(heads, tails)
    if pair is None:
        return None
    first, second = sorted(pair)
    return first[1], second[0]


def insert_markers(text: str, head: tuple[int, int], tail: tuple[int, int]):
    """``text`` with ``@ head @`` and ``# tail #`` around the two mention spans.

    Returns the marked text, the new head and tail spans, and the character spans of the four markers.
    """
    markers, spans, at, out = [], {}, 0, ""
    for side, (start, end) in sorted((("head", head), ("tail", tail)), key=lambda x: x[1]):
        mark = "@" if side == "head" else "#"
        out += text[at:start]
        markers.append((len(out), len(out) + 1))
        out += mark + " "
        spans[side] = (len(out), len(out) + end - start)
        out += text[start:end] + " "
        markers.append((len(out), len(out) + 1))
        out += mark
        at = end
    return out + text[at:], spans["head"], spans["tail"], markers


def _overlaps(start: int, end: int, spans) -> bool:
    return any(start < e and s < end for s, e in spans)


class SpanMasker:
    """Tokenises texts and gives each token its MSLM masking probability; counts missing mentions."""

    def __init__(self, tokenizer, rates: MaskingRates = MaskingRates(), max_length: int = 128,
                 mask_token_id: int | None = None, markers: bool = False):
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"{type(tokenizer).__name__}: span masking needs a fast tokenizer (character offsets)")
        self.tokenizer, self.rates, self.max_length, self.markers = tokenizer, rates, max_length, markers
        self.mask_token_id = tokenizer.mask_token_id if mask_token_id is None else mask_token_id
        if self.mask_token_id is None:
            raise ValueError(f"tokenizer {tokenizer.name_or_path!r} has no mask token: MSLM needs a masked LM encoder")
        self.counts: Counter = Counter()

    def encode(self, text: str, head: str, tail: str) -> MaskedText:
        heads, tails = find_mentions(text, head), find_mentions(text, tail)
        status = ("both_mentions" if heads and tails else "head_missing" if tails else
                  "tail_missing" if heads else "both_missing")
        self.counts[status] += 1
        pair, marks = closest_pair(heads, tails), []  # the pair the relation span lies between, found once
        if pair is not None and self.markers:
            text, *pair, marks = insert_markers(text, *pair)
            heads, tails = find_mentions(text, head), find_mentions(text, tail)
        between = relation_span([pair[0]], [pair[1]]) if pair is not None else None
        encoding = self.tokenizer(text, truncation=True, max_length=self.max_length, return_offsets_mapping=True,
                                  return_special_tokens_mask=True)
        regions = []
        for (start, end), special in zip(encoding["offset_mapping"], encoding["special_tokens_mask"]):
            if special or start == end:
                regions.append(SPECIAL)
                continue
            word = start + len(text[start:end]) - len(text[start:end].lstrip())  # BPE offsets include the leading space
            if word < end and _overlaps(word, end, marks):
                regions.append(SPECIAL)
            elif word < end and _overlaps(word, end, heads + tails):
                regions.append(ENTITY)
            elif between and _overlaps(min(word, end - 1), end, [between]):
                regions.append(RELATION)
            else:
                regions.append(OTHER)
        rate = {OTHER: self.rates.other, ENTITY: self.rates.entity, RELATION: self.rates.relation, SPECIAL: 0.0}
        return MaskedText(list(encoding["input_ids"]), regions, [rate[r] for r in regions], status)


def sample_negative_span(regions: list[int], rng, max_len: int = 3) -> tuple[int, int] | None:
    """A random span of 1..``max_len`` consecutive ``OTHER`` tokens (not entity, relation or special), or None.

    ``rng`` is a ``random.Random``; every fitting span of every length is equally likely.
    """
    spans = []
    for length in range(1, max_len + 1):
        run = 0
        for i, region in enumerate(regions):
            run = run + 1 if region == OTHER else 0
            if run >= length:
                spans.append((i + 1 - length, i + 1))
    return rng.choice(spans) if spans else None
