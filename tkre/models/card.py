"""What travels with every export: ``tkre.json``, a model card (``README.md``) and sentence-transformers files.

``tkre.json`` records the base model, every stage that made the export (its config, the data it
read and its measured metrics), and the inference settings (pooling, metric, markers, description
weight) that ``FewShotRelationClassifier.from_pretrained`` and ``tkre predict`` use. An export
made from another export inherits its stages. The sentence-transformers files (``modules.json``,
``sentence_bert_config.json``, ``1_Pooling/config.json``) let ``SentenceTransformer(export_dir)``
load it with sentence-mean pooling. Configs hold no secrets (keys come from the environment), and
the card repeats only what ``tkre.json`` holds.

Usage::

    write_card("runs/scl/export", stage="scl", config=asdict(cfg), metrics=summary, data="wiki80 corpus ...",
               inference=InferenceSettings(), init_from=cfg.init_from)
    read_settings("runs/scl/export")     # {"pooling": "mean", "metric": "cosine", ...}, {} without tkre.json
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

import yaml

from tkre.config import broken_rules
from tkre.errors import ConfigError
from tkre.models.scoring import ScoringSettings
from tkre.storage import open_storage

CARD_FILE, CARD = "tkre.json", "README.md"
HUB_NAMES = {"minilm": "sentence-transformers/all-MiniLM-L6-v2"}  # the packaged models' hub names


@dataclass
class InferenceSettings(ScoringSettings):
    """How an export turns sentences into prototypes (``ScoringSettings``, defaults chosen on validation)."""

    def __post_init__(self):  # built from a card and overrides, not through a config file's rules
        for name, problem in broken_rules(self):
            raise ConfigError(f"{name} {getattr(self, name)!r}: {problem}")


INFERENCE_KEYS = tuple(f.name for f in fields(InferenceSettings))


def read_card(model: str) -> dict:
    """The ``tkre.json`` of an export (a folder or ``s3://`` prefix); {} for a packaged or hub model."""
    store = open_storage(model)
    try:
        return json.loads(store.read_text(CARD_FILE)) if store.exists(CARD_FILE) else {}
    except (OSError, ValueError):
        return {}


def read_settings(model: str) -> dict:
    """The inference settings an export records ({} when it records none)."""
    return {k: v for k, v in read_card(model).get("inference", {}).items() if k in INFERENCE_KEYS}


def _plain(value):
    """Config values as JSON: dataclasses already dict'ed; paths and the rest as strings."""
    return json.loads(json.dumps(value, default=str))


def card_text(info: dict) -> str:
    """The model card: YAML metadata, then what made the export and how to use it."""
    meta = {"library_name": "sentence-transformers", "base_model": info["base_model"],
            "tags": ["relation-extraction", "few-shot", "tkre"], "pipeline_tag": "feature-extraction"}
    lines = ["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", "",
             f"# TKRE relation encoder ({' -> '.join(s['stage'] for s in info['stages'])})", "",
             f"Base model: `{info['base_model']}`. Inference settings: "
             + ", ".join(f"{k} `{v}`" for k, v in info["inference"].items()) + ".", "",
             "| stage | data | measured |", "|---|---|---|"]
    for s in info["stages"]:
        measured = ", ".join(f"{k} {v:.4g}" for k, v in s.get("metrics", {}).items() if isinstance(v, (int, float)))
        lines.append(f"| {s['stage']} | {s.get('data', '')} | {measured} |")
    lines += ["", "Each stage's full config is in `tkre.json`.", "", "```python",
              "from tkre.predict.fewshot import FewShotRelationClassifier",
              "clf = FewShotRelationClassifier.from_pretrained(EXPORT_DIR).fit(support, descriptions)",
              "clf.predict([{'text': ..., 'h': {'pos': [start, end]}, 't': {'pos': [start, end]}}], top_k=3)",
              "```", "", "`SentenceTransformer(EXPORT_DIR)` loads it too (sentence-mean pooling).", ""]
    return "\n".join(lines)


def sentence_transformers_files(max_length: int, hidden_size: int) -> dict[str, str]:
    """The files that make a Hugging Face encoder folder a sentence-transformers model with mean pooling."""
    pooling = {"word_embedding_dimension": hidden_size, "pooling_mode_cls_token": False,
               "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
               "pooling_mode_mean_sqrt_len_tokens": False}
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    return {"modules.json": json.dumps(modules, indent=2),
            "sentence_bert_config.json": json.dumps({"max_seq_length": max_length, "do_lower_case": False}, indent=2),
            "1_Pooling/config.json": json.dumps(pooling, indent=2)}


def write_card(export: str, stage: str, config: dict, metrics: dict, data: str, inference: ScoringSettings,
               init_from: str | None = None, base_model: str | None = None) -> dict:
    """Writes ``tkre.json``, ``README.md`` and the sentence-transformers files into ``export``; returns the info."""
    parent = read_card(init_from) if init_from else {}
    store = open_storage(export)
    hidden_size = json.loads(store.read_text("config.json"))["hidden_size"]
    base = parent.get("base_model") or base_model or init_from or "minilm"
    info = {"base_model": HUB_NAMES.get(base, base),
            "stages": [*parent.get("stages", []),
                       {"stage": stage, "data": data, "config": _plain(config),
                        "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))}}],
            "inference": asdict(inference)}
    store.write_text(CARD_FILE, json.dumps(info, indent=2))
    store.write_text(CARD, card_text(info))
    for name, text in sentence_transformers_files(inference.max_length, hidden_size).items():
        store.write_text(name, text)
    return info
