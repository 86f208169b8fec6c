"""Few-shot relation classification of new text: prototypes from a few labelled sentences per relation.

The same prototypes as the episodic evaluation (``tkre.models.prototype``): a relation's prototype is
its support mean, joined by its description as ``description_weight`` more support sentences; a
relation with a description and no support is scored by the description alone. The encoder's
pooling, metric, markers and description weight are read from the export's ``tkre.json`` (written
with every export) or default to those chosen on validation.

Usage::

    clf = FewShotRelationClassifier.from_pretrained("runs/scl/export")     # or "minilm"
    clf.fit(support, descriptions={"founded by": "founded by: founder or co-founder of this organization"})
    clf.predict([{"text": "Jobs founded Apple.", "h": {"pos": [0, 4]}, "t": {"pos": [13, 18]}}], top_k=3)
    # [{"relation": "founded by", "score": 0.71, "top_k": [{"relation": ..., "score": ...}, ...]}]
"""

from __future__ import annotations

import torch

from tkre.data.instance import RelationInstance, group_by_relation
from tkre.data.records import record_instance
from tkre.errors import ConfigError
from tkre.models.card import InferenceSettings, read_settings
from tkre.models.encoder import RelationEncoder, default_device
from tkre.models.prototype import prototype_scores, prototypes
from tkre.models.scoring import check_threshold


def as_instances(records, name: str, need_relation: bool = False) -> list[RelationInstance]:
    """``RelationInstance``s as they are, user records (dicts) parsed; ``name`` is what errors call the list."""
    return [r if isinstance(r, RelationInstance) else record_instance(r, name, i, need_relation)
            for i, r in enumerate(records)]


class FewShotRelationClassifier:
    """An encoder plus the prototypes of the relations it was fitted on."""

    def __init__(self, encoder: RelationEncoder, settings: InferenceSettings):
        self.encoder, self.settings = encoder, settings
        self.relations: list[str] = []
        self.prototypes = torch.empty(0)

    @classmethod
    def from_pretrained(cls, model: str, device: str | None = None, **overrides) -> "FewShotRelationClassifier":
        """Loads an export (a folder, or ``minilm``); ``overrides`` replace its recorded inference settings."""
        settings = InferenceSettings(**{**read_settings(model), **overrides})
        encoder = RelationEncoder(model, settings.pooling, settings.typed_markers, settings.max_length)
        return cls(encoder.to(device or default_device()), settings)

    def fit(self, support, descriptions: dict[str, str] | None = None, batch_size: int = 64,
            progress: bool = False) -> "FewShotRelationClassifier":
        """Prototypes of the support's relations (records or instances with ``relation``), plus any relation
        that only has a description (``descriptions``: relation -> "name: description" text)."""
        support = as_instances(support, "support", need_relation=True)
        descriptions = descriptions or {}
        groups = group_by_relation(support)
        self.relations = sorted(set(groups) | set(descriptions))
        if not self.relations:
            raise ConfigError("fit: no support sentences and no descriptions")
        embeddings = self.encoder.encode(support, batch_size, progress) if support else None
        texts = self.encoder.encode_texts([descriptions[r] for r in self.relations if r in descriptions], batch_size)
        text_row = {r: i for i, r in enumerate(r for r in self.relations if r in descriptions)}
        rows = []
        for relation in self.relations:
            shots = embeddings[groups[relation]] if relation in groups else torch.empty((0, self.encoder.output_size))
            described = texts[text_row[relation]][None, None] if relation in text_row else None
            rows.append(prototypes(shots[None, None], self.settings.metric, described, self.settings.description_weight)[0, 0])
        self.prototypes = torch.stack(rows)
        return self

    def scores(self, queries, batch_size: int = 64, progress: bool = False) -> torch.Tensor:
        """[Q, R]: each query's score against each fitted relation (higher is nearer)."""
        if not self.relations:
            raise ConfigError("predict: call fit first")
        queries = as_instances(queries, "queries")
        if not queries:
            return torch.empty((0, len(self.relations)))
        query = self.encoder.encode(queries, batch_size, progress)
        return prototype_scores(self.prototypes[None], query[None], self.settings.metric)[0]

    def predict(self, queries, top_k: int = 1, threshold: float | None = None, batch_size: int = 64,
                progress: bool = False) -> list[dict]:
        """Per query: ``relation`` (None, i.e. none of the above, when the best score is below ``threshold``),
        its ``score`` and the ``top_k`` relations with their scores. A threshold outside the scores' range is refused."""
        check_threshold(threshold, self.settings.metric)
        return ranked(self.scores(queries, batch_size, progress), self.relations, top_k, threshold)


def ranked(scores: torch.Tensor, relations: list[str], top_k: int = 1, threshold: float | None = None) -> list[dict]:
    """Predictions from scores [Q, R]: the best relation (or None below ``threshold``) and the top k."""
    values, index = scores.topk(min(max(top_k, 1), len(relations)), dim=-1)
    out = []
    for row_values, row_index in zip(values.tolist(), index.tolist()):
        best = row_values[0]
        out.append({"relation": None if threshold is not None and best < threshold else relations[row_index[0]],
                    "score": best,
                    "top_k": [{"relation": relations[i], "score": v} for i, v in zip(row_index, row_values)]})
    return out
