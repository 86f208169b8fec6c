"""One pre-training stage on one rank: ``mslm`` (stage 1) or ``scl`` (stage 2, MSLM + SCL), and its config.

The driver (``tkre.launch.pretrain``) reads and checks the corpus, then hands each rank the texts;
``train_stage`` builds the examples, the model and the engine and runs the shared loop on the
rank's context (plain, Ray Train or a Tune trial). Shot settings (``support_k``,
``synthetic_per_relation``) choose what of the corpus is used; ``markers`` wraps each text's mentions
in the downstream entity markers; with ``val`` set, ``val.holdout`` corpus relations are kept out of
training and scored every ``loop.eval_every`` steps. SCL's description anchors read the relations'
schemas (``scl.schema``, by default the corpus's dataset).

Usage::

    cfg = load_config(PretrainConfig, "jobs/configs/mslm/smoke.yaml", check=lambda c: check_stage(c, "mslm"))
    cfg = resolve_paths(cfg, os.getcwd())
    texts, heldout = corpus_texts(cfg)
    train_stage(cfg, texts, heldout, LocalContext("runs/mslm"))
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field

from tkre.config import FieldError, at_least, one_of, positive
from tkre.data.datasets import data_dir, relation_schemas
from tkre.data.splits import validation_relations
from tkre.data.masking import MaskingRates
from tkre.data.pretrain import SOURCES, PretrainText, pretraining_texts, read_synthesis, support_of, synthesis_support
from tkre.eval.validation import ValidationConfig
from tkre.storage import absolute, download_folder, is_remote
from tkre.train.engines import EngineSettings
from tkre.train.loop import LoopSettings
from tkre.train.model import MSLMSettings, SCLSettings

STAGES = ("mslm", "scl")


@dataclass
class WorkersConfig:
    num_workers: int = positive(2)
    use_gpu: bool = False
    cpus_per_worker: float = positive(1.0)
    max_failures: int = at_least(1, 0)


@dataclass
class PretrainConfig:
    run_dir: str = "runs/mslm"
    corpus: str = "corpora/wiki80_k8_smollm2"  # a synthesis output
    data_dir: str | None = None
    sources: list[str] = one_of(lambda: list(SOURCES), SOURCES)
    support_k: int | None = positive(None)  # the first K support instances per relation and their explanations (null: all)
    synthetic_per_relation: int | None = at_least(None, 0)  # the first N synthetic instances per relation (null: all)
    hygiene: bool = True  # leave out what corpus hygiene (tkre.data.quality) rejects; false: keep it, to measure its worth
    init_from: str | None = None  # minilm, a folder or hub name; stage 2: the stage-1 export
    max_length: int = positive(128)
    markers: bool = False  # @ head @ ... # tail # around the mentions, as downstream
    masking: MaskingRates = field(default_factory=MaskingRates)
    mslm: MSLMSettings = field(default_factory=MSLMSettings)
    loop: LoopSettings = field(default_factory=LoopSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    scl: SCLSettings | None = None  # stage 2 only
    val: ValidationConfig | None = None  # episodic validation on held-out corpus relations (sweeps)


def check_stage(cfg: PretrainConfig, stage: str) -> None:
    """The rules between fields of one stage; ``FieldError`` names the field."""
    if stage == "scl" and cfg.scl is None:
        raise FieldError("scl", "the scl stage needs its settings (scl.temperature, ...)")
    if stage == "scl" and (not cfg.init_from or cfg.init_from == "minilm"):
        raise FieldError("init_from", "the scl stage starts from the stage-1 export (e.g. runs/mslm/export)")
    if stage == "mslm" and cfg.scl is not None:
        raise FieldError("scl", "scl settings belong to the scl stage")
    if cfg.scl is not None and cfg.scl.anchors == "learned" and cfg.scl.entity_mask:
        raise FieldError("scl.entity_mask", "masks the unmasked positive pass of description anchors (scl.anchors)")
    if cfg.val is not None and cfg.loop.eval_every < 1:
        raise FieldError("loop.eval_every", "set the steps between validations (val is set)")
    if cfg.val is not None and cfg.engine.kind == "deepspeed" and cfg.engine.zero_stage == 3:
        raise FieldError("engine.zero_stage", "validation reads rank 0's whole weights; use ZeRO stage 0-2")


def resolve_paths(cfg: PretrainConfig, root: str) -> PretrainConfig:
    """Makes the corpus, init_from, data and schema file paths absolute against ``root`` (workers start elsewhere)."""
    cfg.init_from = cfg.init_from or "minilm"
    cfg.corpus = absolute(cfg.corpus, root)
    local = absolute(cfg.init_from, root)
    cfg.init_from = local if os.path.exists(local) else cfg.init_from
    cfg.data_dir = str(data_dir(cfg.data_dir and absolute(cfg.data_dir, root)).resolve())
    if cfg.scl is not None and cfg.scl.schema and os.path.exists(absolute(cfg.scl.schema, root)):
        cfg.scl.schema = absolute(cfg.scl.schema, root)  # a schema file
    return cfg


def corpus_texts(cfg: PretrainConfig) -> tuple[list[PretrainText], list[str]]:
    """The checked pre-training texts of ``cfg.corpus`` under the shot settings, and the relations held out for ``val``.

    Description anchors without ``scl.schema`` take the schemas of the corpus's dataset (set here).
    """
    synthesis = read_synthesis(cfg.corpus)
    dropped = Counter()
    texts = pretraining_texts(synthesis, support_of(synthesis, cfg.data_dir), tuple(cfg.sources),
                              cfg.support_k, cfg.synthetic_per_relation, dropped, cfg.hygiene)
    if dropped:
        print(f"[corpus] left out by corpus hygiene: {dict(dropped)}", file=sys.stderr)
    if cfg.scl is not None and cfg.scl.anchors == "description" and cfg.scl.schema is None:
        cfg.scl.schema = synthesis_support(synthesis).dataset
    if cfg.val is None:
        return texts, []
    heldout = validation_relations(cfg.val, cfg.data_dir)
    return [t for t in texts if t.relation not in heldout], heldout


def train_stage(cfg: PretrainConfig, texts: list[PretrainText], heldout: list[str], ctx) -> dict:
    """Texts (read and checked by the driver) -> examples -> model -> engine -> the shared train loop on ``ctx``."""
    import torch

    from tkre.data.masking import SpanMasker
    from tkre.eval.validation import Validator
    from tkre.losses.scl import RelationVocab
    from tkre.train.batches import collate, encode_texts
    from tkre.train.engines import make_engine
    from tkre.train.loop import train
    from tkre.train.model import PretrainModel

    torch.set_num_threads(max(1, int(cfg.workers.cpus_per_worker)))
    torch.manual_seed(cfg.loop.seed)
    vocab = RelationVocab(t.relation for t in texts) if cfg.scl is not None else None
    init_from = cfg.init_from
    if is_remote(init_from):
        init_from = str(download_folder(init_from, os.path.join(ctx.scratch, "init_from")))
    model = PretrainModel(init_from, len(vocab) if vocab else 0, cfg.scl, cfg.mslm)
    validator = None
    if cfg.val is not None and ctx.rank == 0:
        validator = Validator(cfg.val, heldout, init_from, cfg.max_length, cfg.data_dir)
    if init_from != cfg.init_from:
        shutil.rmtree(init_from)  # loaded; the scratch folder holds nothing but checkpoints in flight
    masker = SpanMasker(model.tokenizer, cfg.masking, cfg.max_length, markers=cfg.markers)
    examples = encode_texts(texts, masker, vocab)
    scl = cfg.scl or SCLSettings()
    anchors = None
    if scl.anchors == "description" and vocab is not None:
        schemas = relation_schemas(vocab.names, scl.schema, cfg.data_dir)
        anchors = [model.tokenizer(schemas[r].text, truncation=True, max_length=cfg.max_length)["input_ids"]
                   for r in vocab.names]
    if ctx.rank == 0:
        print(f"[pretrain] {len(texts)} texts, mentions {dict(masker.counts)}"
              + (f", {len(heldout)} relations held out for validation" if heldout else ""), file=sys.stderr)
    engine = make_engine(cfg.engine, model, cfg.loop.max_steps, cfg.loop.batch_size,
                         torch.device("cuda" if cfg.workers.use_gpu else "cpu"),
                         model.encoder_parameter_names(), cfg.mslm.head_warmup_steps)
    pad = model.tokenizer.pad_token_id or 0

    def collate_fn(xs, epoch):
        return collate(xs, masker.mask_token_id, pad, cfg.loop.seed, epoch, anchors, scl.positive, scl.entity_mask)

    return train(engine, examples, collate_fn, cfg.loop, ctx, export=model.export,
                 evaluate=(lambda: validator(model.mlm.base_model)) if validator else None)
