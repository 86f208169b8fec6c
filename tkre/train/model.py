"""The pre-training model: a masked-LM encoder, with the SCL head for stage 2; loss = l1*MSLM + l2*SCL.

MSLM settings make the new MLM head safe for the encoder: ``head_warmup_steps`` trains the head
alone first (the encoder and its embeddings get no gradient, and their learning rate is 0, see
``tkre.train.engines``), ``untie_decoder`` gives the head its own output matrix, ``dropout``
overrides the encoder's. SCL's ``description`` anchors are the encoder's embeddings of the
relations' "name: description" texts, scored against positives from an unmasked pass.

Usage::

    model = PretrainModel("minilm", num_relations=64, scl=SCLSettings(temperature=0.1))
    out = model(batch)            # {"loss", "mslm"[, "scl"]}; batch["step"] drives the head warm-up
    model.export("run/hf")        # a Hugging Face folder the next stage and evaluation load
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoModelForMaskedLM, AutoTokenizer

from tkre.losses.scl import SpanContrastiveHead
from tkre.models.encoder import resolve_model, span_mean
from tkre.train.config import MSLMSettings, SCLSettings


class PretrainModel(nn.Module):
    def __init__(self, model: str, num_relations: int = 0, scl: SCLSettings | None = None,
                 mslm: MSLMSettings | None = None):
        super().__init__()
        path = resolve_model(model)
        self.mslm = mslm or MSLMSettings()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        dropout = {} if self.mslm.dropout is None else {
            "hidden_dropout_prob": self.mslm.dropout, "attention_probs_dropout_prob": self.mslm.dropout}
        self.mlm = AutoModelForMaskedLM.from_pretrained(path, **dropout)
        if self.mslm.untie_decoder:
            decoder = self.mlm.get_output_embeddings()
            decoder.weight = nn.Parameter(decoder.weight.detach().clone())
            self.mlm.config.tie_word_embeddings = False
        # the MLM head of BERT-style (cls) and RoBERTa-style (lm_head) models, scored at the masked positions only
        self.head_name = next((name for name in ("cls", "lm_head") if hasattr(self.mlm, name)), None)
        self.settings = scl
        self.scl = None
        if scl is not None:
            described = scl.anchors == "description"
            if not described and num_relations < 1:
                raise ValueError("SCL needs the training relations (num_relations >= 1)")
            self.scl = SpanContrastiveHead(self.mlm.config.hidden_size, 0 if described else num_relations,
                                           scl.projection_size, scl.temperature, scl.in_batch_negatives)
        self.train()  # from_pretrained leaves the encoder in eval mode; pre-training runs with dropout

    def encoder_parameter_names(self) -> set[str]:
        """The encoder's parameters (with the input embeddings, and the decoder when tied): frozen in the warm-up."""
        prefix = f"mlm.{self.mlm.base_model_prefix}."
        return {name for name, _ in self.named_parameters() if name.startswith(prefix)}

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.mslm.head_warmup_steps:  # gradients stop at the head while the loop's step is in the warm-up
            warming = self.training and int(batch.get("step", self.mslm.head_warmup_steps)) < self.mslm.head_warmup_steps
            self.mlm.base_model.requires_grad_(not warming)
        encoder = self.mlm.base_model
        if self.head_name is None:  # another architecture: its own loss, the head over every position
            out = self.mlm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"],
                           output_hidden_states=True)
            mslm, masked_hidden = out.loss, out.hidden_states[-1]
        else:
            masked_hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            mslm = self.masked_lm_loss(masked_hidden, batch["labels"])
        if self.scl is None:
            return {"loss": mslm, "mslm": mslm.detach()}
        if self.scl.anchors is None:  # description anchors
            hidden = encoder(input_ids=batch["clean_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            anchor_mask = batch["anchor_attention_mask"]
            anchors = span_mean(encoder(input_ids=batch["anchor_input_ids"], attention_mask=anchor_mask).last_hidden_state,
                                anchor_mask.bool())
            scl = self.scl(hidden, batch["positive_mask"], batch["negative_mask"], batch["anchor_index"], anchors)
        else:
            scl = self.scl(masked_hidden, batch["positive_mask"], batch["negative_mask"], batch["relation_ids"])
        loss = self.settings.mslm_weight * mslm + self.settings.scl_weight * scl
        return {"loss": loss, "mslm": mslm.detach(), "scl": scl.detach()}

    def masked_lm_loss(self, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the MLM head at the masked positions only (labels -100 elsewhere): the same loss
        as the Hugging Face model's, without the vocabulary projection of every other token."""
        picked = labels != -100
        return nn.functional.cross_entropy(getattr(self.mlm, self.head_name)(hidden[picked]), labels[picked])

    def export(self, folder: str) -> None:
        """The encoder with its MLM head and tokenizer, as a Hugging Face folder."""
        self.mlm.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
