"""Entity markers with punctuation, built as text with the character offsets they land on.

``entity_marker_punct``: ``@ subj @ ... # obj #``; typed (when both types exist):
``@ * subj_type * subj @ ... # ^ obj_type ^ obj #``. The encoder maps the character
offsets to tokens through the tokenizer's offset mapping, so the same code works for
WordPiece and byte-level BPE.

Usage: ``marked = mark_entities(inst, typed=True); marked.text, marked.head_marker``
"""

from __future__ import annotations

from dataclasses import dataclass

from tkre.data.instance import RelationInstance


@dataclass(frozen=True)
class MarkedText:
    """Marked sentence; ``*_marker`` is the character offset of the start marker, ``*_chars`` the mention."""

    text: str
    head_marker: int
    tail_marker: int
    head_chars: tuple[int, int]
    tail_chars: tuple[int, int]


def _open_close(kind: str, entity_type: str | None) -> tuple[list[str], list[str]]:
    mark, type_mark = ("@", "*") if kind == "head" else ("#", "^")
    if entity_type is None:
        return [mark], [mark]
    return [mark, type_mark, *entity_type.replace("_", " ").lower().split(), type_mark], [mark]


def mark_entities(inst: RelationInstance, typed: bool = False, window: tuple[int, int] | None = None) -> MarkedText:
    """Joins ``inst.tokens[window]`` with spaces and wraps the head and tail in markers.

    Typed markers are used only when ``typed`` and both entity types are known. The window
    must contain both entities (the encoder shrinks it to fit long sentences).
    """
    lo, hi = window or (0, len(inst.tokens))
    use_types = typed and inst.head_type is not None and inst.tail_type is not None
    spans = {"head": inst.head, "tail": inst.tail}
    for name, (start, end) in spans.items():
        if start < lo or end > hi:
            raise ValueError(f"window [{lo}, {hi}) cuts the {name} span [{start}, {end})")
    opens: dict[int, list[tuple[str, list[str]]]] = {}
    closes: dict[int, list[list[str]]] = {}
    for name, (start, end) in spans.items():
        opening, closing = _open_close(name, (inst.head_type if name == "head" else inst.tail_type) if use_types else None)
        opens.setdefault(start, []).append((name, opening))
        closes.setdefault(end - 1, []).append(closing)

    pieces: list[str] = []
    length = 0
    marker_at: dict[str, int] = {}
    mention_start: dict[str, int] = {}
    mention_end: dict[str, int] = {}

    def emit(piece: str) -> int:
        nonlocal length
        if pieces:
            length += 1  # the joining space
        pieces.append(piece)
        at = length
        length += len(piece)
        return at

    for i in range(lo, hi):
        for name, opening in opens.get(i, []):
            marker_at[name] = emit(opening[0])
            for piece in opening[1:]:
                emit(piece)
        at = emit(inst.tokens[i])
        for name, (start, end) in spans.items():
            if i == start:
                mention_start[name] = at
            if i == end - 1:
                mention_end[name] = length
        for closing in closes.get(i, []):
            for piece in closing:
                emit(piece)
    text = " ".join(pieces)
    return MarkedText(
        text,
        marker_at["head"],
        marker_at["tail"],
        (mention_start["head"], mention_end["head"]),
        (mention_start["tail"], mention_end["tail"]),
    )
