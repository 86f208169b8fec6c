"""The one record every reader produces (readers raise ``tkre.errors.DataError``).

Usage: ``RelationInstance(tokens=("Paris", "is", "in", "France"), head=(0, 1), tail=(3, 4), relation="country")``
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RelationInstance:
    """A sentence with a subject (head) and object (tail) span, half-open token indices."""

    tokens: tuple[str, ...]
    head: tuple[int, int]
    tail: tuple[int, int]
    relation: str
    head_type: str | None = None
    tail_type: str | None = None

    @property
    def head_text(self) -> str:
        return " ".join(self.tokens[self.head[0] : self.head[1]])

    @property
    def tail_text(self) -> str:
        return " ".join(self.tokens[self.tail[0] : self.tail[1]])


def group_by_relation(instances: list[RelationInstance]) -> dict[str, list[int]]:
    """Indices of the instances of each relation, relations sorted by name."""
    groups: dict[str, list[int]] = {}
    for i, inst in enumerate(instances):
        groups.setdefault(inst.relation, []).append(i)
    return dict(sorted(groups.items()))
