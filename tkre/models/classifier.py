"""The kept K-shot classifier: a marker-pooled encoder plus the paper's head, and its files.

``save_pretrained`` writes the encoder and tokenizer (a Hugging Face folder), ``head.safetensors``,
``classifier.json`` (labels, ``ClassifierSettings``, what it was trained on and scored) and its model
card ``README.md``; ``from_pretrained`` loads it for
``tkre predict``. Training it is ``tkre.eval.finetune``.

Usage::

    clf = RelationClassifier(ClassifierSettings(model="minilm"), labels=["founded by", "no_relation"])
    clf.save_pretrained("runs/clf", measured={"test_f1": 61.2})
    clf = RelationClassifier.from_pretrained("runs/clf"); clf.scores(instances)   # [N, labels] probabilities
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tkre.config import fraction, positive
from tkre.data.instance import RelationInstance
from tkre.errors import ModelError
from tkre.models.encoder import Features, RelationEncoder, default_device

HEAD_FILE, CLASSIFIER_FILE, CARD = "head.safetensors", "classifier.json", "README.md"


def classifier_card(info: dict) -> str:
    """The model card of a kept classifier: what ``classifier.json`` holds, for a person."""
    m = info["measured"]
    lines = ["# TKRE relation classifier", "", f"Encoder fine-tuned from `{info['base_model']}` with the paper's head "
             f"(typed markers: {info['typed_markers']}, max length {info['max_length']}), {len(info['labels'])} labels.", ""]
    if "train_instances" in m:
        lines.append(f"Trained on {m['task']} (seed {m['seed']}): {m['train_instances']} instances, "
                     f"{m['synthetic_instances']} of them synthetic.")
    scores = [f"{k} {100 * m[k]:.2f}" for k in ("dev_f1", "test_f1") if k in m]
    if scores:
        lines.append(f"Micro-F1 (no-relation class excluded): {', '.join(scores)}.")
    lines += ["", "Use: `tkre predict --model THIS_FOLDER --input sentences.jsonl --output predictions.jsonl`", ""]
    return "\n".join(lines)


@dataclass
class ClassifierSettings:
    """What a classifier is made of: its encoder, typed markers, max length and head dropout."""

    model: str = "minilm"
    dropout: float = fraction(0.1)
    max_length: int = positive(256)
    typed_markers: bool = True


class ClassificationHead(nn.Sequential):
    """The paper's head: Linear(2H, H) - ReLU - Dropout - Linear(H, C)."""

    def __init__(self, input_size: int, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__(
            nn.Linear(input_size, hidden_size), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_size, num_labels)
        )


class RelationClassifier(nn.Module):
    """Marker-pooled encoder plus classification head; ``labels[i]`` is the relation of output ``i``."""

    def __init__(self, settings: ClassifierSettings, labels: list[str]):
        super().__init__()
        self.settings, self.labels = settings, list(labels)
        self.encoder = RelationEncoder(settings.model, "marker", settings.typed_markers, settings.max_length)
        self.head = ClassificationHead(self.encoder.output_size, self.encoder.hidden_size, len(labels), settings.dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        device = self.head[0].weight.device
        return self.head(self.encoder({k: v.to(device) for k, v in batch.items()}))

    def logits(self, features: list[Features], batch_size: int = 64) -> torch.Tensor:
        """[N, labels] logits of featurized instances, in input order, without gradients."""
        return self.encoder.map_batches(features, self, len(self.labels), batch_size)

    def scores(self, instances: list[RelationInstance], batch_size: int = 64) -> torch.Tensor:
        """[N, labels]: each instance's probability of each relation."""
        self.eval()
        return self.logits(self.encoder.featurize(instances), batch_size).softmax(-1)

    def save_pretrained(self, folder: str | Path, measured: dict | None = None) -> None:
        """The encoder and tokenizer (a Hugging Face folder), ``head.safetensors`` and ``classifier.json``
        (labels, marker style, max length, and ``measured``: what it scored)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.encoder.encoder.save_pretrained(folder)
        self.encoder.tokenizer.save_pretrained(folder)
        save_file({k: v.contiguous().cpu() for k, v in self.head.state_dict().items()}, folder / HEAD_FILE)
        s = self.settings
        info = {"labels": self.labels, "typed_markers": s.typed_markers, "max_length": s.max_length,
                "dropout": s.dropout, "base_model": s.model, "measured": measured or {}}
        (folder / CLASSIFIER_FILE).write_text(json.dumps(info, indent=2))
        (folder / CARD).write_text(classifier_card(info))

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | None = None) -> "RelationClassifier":
        """A classifier kept by ``save_pretrained`` (``tkre finetune --save``), in inference mode."""
        from safetensors.torch import load_file

        path = Path(folder) / CLASSIFIER_FILE
        if not path.is_file():
            raise ModelError(f"{folder}: no {CLASSIFIER_FILE}; is it a folder kept by `tkre finetune --save`?")
        info = json.loads(path.read_text())
        settings = ClassifierSettings(str(folder), info["dropout"], info["max_length"], info["typed_markers"])
        model = cls(settings, info["labels"])
        model.head.load_state_dict(load_file(Path(folder) / HEAD_FILE))
        return model.to(device or default_device()).eval()
