"""The pre-training model: a masked-LM encoder, with the SCL head for stage 2; loss = l1*MSLM + l2*SCL.

Usage::

    model = PretrainModel("minilm", num_relations=64, scl=SCLSettings(temperature=0.1))
    out = model(batch)            # {"loss", "mslm"[, "scl"]}
    model.export("run/hf")        # a Hugging Face folder the next stage and evaluation load
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModelForMaskedLM, AutoTokenizer

from tkre.config import at_least, positive
from tkre.losses.scl import SpanContrastiveHead
from tkre.models.encoder import resolve_model


@dataclass
class SCLSettings:
    temperature: float = positive(0.1)
    in_batch_negatives: bool = False
    projection_size: int | None = positive(None)
    mslm_weight: float = at_least(1.0, 0)  # l1
    scl_weight: float = at_least(1.0, 0)  # l2


class PretrainModel(nn.Module):
    def __init__(self, model: str, num_relations: int = 0, scl: SCLSettings | None = None):
        super().__init__()
        path = resolve_model(model)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.mlm = AutoModelForMaskedLM.from_pretrained(path)
        self.settings = scl
        self.scl = None
        if scl is not None:
            if num_relations < 1:
                raise ValueError("SCL needs the training relations (num_relations >= 1)")
            self.scl = SpanContrastiveHead(self.mlm.config.hidden_size, num_relations, scl.projection_size,
                                           scl.temperature, scl.in_batch_negatives)
        self.train()  # from_pretrained leaves the encoder in eval mode; pre-training runs with dropout

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.mlm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"],
                       output_hidden_states=self.scl is not None)
        if self.scl is None:
            return {"loss": out.loss, "mslm": out.loss.detach()}
        scl = self.scl(out.hidden_states[-1], batch["positive_mask"], batch["negative_mask"], batch["relation_ids"])
        loss = self.settings.mslm_weight * out.loss + self.settings.scl_weight * scl
        return {"loss": loss, "mslm": out.loss.detach(), "scl": scl.detach()}

    def export(self, folder: str) -> None:
        """The encoder with its MLM head and tokenizer, as a Hugging Face folder."""
        self.mlm.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
