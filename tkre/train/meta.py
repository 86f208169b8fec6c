"""Prototypical meta-training (Snell et al., 2017), the classic FSRE baseline: each step embeds
N-way K-shot episodes of the training relations and minimises cross-entropy over the query
scores against the episode's prototypes (negative squared Euclidean distance, or scaled cosine:
the metric of the caller's ``ScoringSettings``), optionally with relation-description prototypes
whose description is dropped at random so the model also works without one.

Episodes are the loop's examples, so the shared loop (``tkre.train.loop.train``) checkpoints,
resumes and logs meta-training like pre-training.

Usage::

    model = PrototypicalModel(RelationEncoder("minilm", "mean"), "cosine", scale=10.0)
    features = model.encoder.featurize(instances)
    episodes = sample_episodes(instances, 5, 1, 5, episodes=1000, seed=0)
    train(engine, episodes, lambda eps, epoch: episode_batch(model.encoder, features, eps), settings, ctx)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tkre.data.episodes import Episode
from tkre.models.encoder import Features, RelationEncoder
from tkre.models.prototype import prototype_scores, prototypes


def episode_batch(encoder: RelationEncoder, features: list[Features], episodes: list[Episode],
                  texts: dict[str, str] | None = None, described: list[list[bool]] | None = None) -> dict:
    """Tensors for a list of same-shape episodes: every support instance first (episode, relation,
    shot order), then every query; ``labels`` [E, Q]; the episode shape as ``n_way``/``k_shot``.

    With ``texts`` (relation -> description), the batch also holds each relation's description once
    (``desc_input_ids``, ``desc_attention_mask``), which of them each episode's prototypes use
    (``desc_index`` [E, N]) and whether they use it (``described`` [E, N], all True unless given).
    """
    first = episodes[0]
    n_way, k_shot, n_query = len(first.support), len(first.support[0]), len(first.query)
    if any(len(ep.support) != n_way or len(ep.support[0]) != k_shot or len(ep.query) != n_query for ep in episodes):
        raise ValueError("episodes in one batch must share N, K and the number of queries")
    support = [i for ep in episodes for shots in ep.support for i in shots]
    query = [i for ep in episodes for i in ep.query]
    batch = encoder.collate([features[i] for i in support + query])
    batch["labels"] = torch.tensor([ep.labels for ep in episodes])
    batch["n_way"], batch["k_shot"] = torch.tensor(n_way), torch.tensor(k_shot)
    if texts is not None:
        relations = sorted({r for ep in episodes for r in ep.relations})
        row = {r: i for i, r in enumerate(relations)}
        described_texts = encoder.text_batch([texts[r] for r in relations])
        batch["desc_input_ids"], batch["desc_attention_mask"] = described_texts["input_ids"], described_texts["attention_mask"]
        batch["desc_index"] = torch.tensor([[row[r] for r in ep.relations] for ep in episodes])
        batch["described"] = torch.tensor(described) if described is not None else torch.ones(len(episodes), n_way, dtype=torch.bool)
    return batch


class PrototypicalModel(nn.Module):
    """An encoder trained on episodes; ``forward(batch)`` gives ``loss`` and episode ``accuracy``.

    Logits are the prototype scores times ``scale`` (cosine scores lie in [-1, 1]); with
    ``learn_scale`` the scale is a parameter that starts there. Batches with descriptions train
    description prototypes (``tkre.models.prototype.prototypes``).
    """

    def __init__(self, encoder: RelationEncoder, metric: str, description_weight: float = 1.0,
                 scale: float = 1.0, learn_scale: bool = False):
        super().__init__()
        self.encoder, self.metric, self.description_weight = encoder, metric, description_weight
        log_scale = torch.tensor(math.log(scale))
        if learn_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        device = next(self.parameters()).device
        labels = batch["labels"].to(device)
        n_episodes, n_way, k_shot = labels.size(0), int(batch["n_way"]), int(batch["k_shot"])
        keys = ("input_ids", "attention_mask", "markers", "head_mask", "tail_mask")
        embeddings = self.encoder({k: batch[k].to(device) for k in keys})
        n_support = n_episodes * n_way * k_shot
        support = embeddings[:n_support].view(n_episodes, n_way, k_shot, -1)
        query = embeddings[n_support:].view(n_episodes, labels.size(1), -1)
        descriptions, described = None, None
        if "desc_input_ids" in batch:
            texts = self.encoder.embed_texts({"input_ids": batch["desc_input_ids"].to(device),
                                              "attention_mask": batch["desc_attention_mask"].to(device)})
            descriptions, described = texts[batch["desc_index"].to(device)], batch["described"].to(device)
        protos = prototypes(support, self.metric, descriptions, self.description_weight, described)
        scores = prototype_scores(protos, query, self.metric) * self.log_scale.exp()  # [E, Q, N]
        loss = nn.functional.cross_entropy(scores.flatten(0, 1), labels.flatten())
        accuracy = (scores.argmax(-1) == labels).float().mean()
        return {"loss": loss, "accuracy": accuracy, "scale": self.log_scale.detach().exp()}

    def export(self, folder: str) -> None:
        """A Hugging Face encoder (weights and tokenizer) that ``RelationEncoder(folder)`` loads."""
        self.encoder.encoder.save_pretrained(folder)
        self.encoder.tokenizer.save_pretrained(folder)
