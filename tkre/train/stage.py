"""One pre-training stage on one rank: ``mslm`` (stage 1) or ``scl`` (stage 2, MSLM + SCL).

The driver (``jobs/pretrain.py``) reads and checks the corpus, then hands each rank the texts;
``train_stage`` builds the examples, the model and the engine and runs the shared loop on the
rank's context (plain, Ray Train or a Tune trial). Shot settings (``support_k``,
``synthetic_per_relation``) choose what of the corpus is used; ``markers`` wraps each text's mentions
in the downstream entity markers; with ``val`` set, the validation relations are kept out of
training and scored every ``loop.eval_every`` steps. SCL's description anchors read the relations'
schemas (``scl.schema``, by default the corpus's dataset).

Usage::

    cfg = load_config(PretrainConfig, "jobs/configs/mslm/smoke.yaml", check=lambda c: check_stage(c, "mslm"))
    cfg = resolve_paths(cfg, os.getcwd())
    texts, heldout = corpus_texts(cfg)
    train_stage(cfg, texts, heldout, LocalContext("runs/mslm"))
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from collections import Counter

import torch

from tkre.data.datasets import data_dir, is_task_folder, relation_schemas
from tkre.data.masking import SpanMasker
from tkre.data.pretrain import PretrainText, pretraining_texts, read_synthesis, support_of, synthesis_support
from tkre.data.splits import validation_relations
from tkre.eval.validation import Validator
from tkre.losses.scl import RelationVocab
from tkre.storage import absolute, download_folder, is_remote
from tkre.train.batches import collate, encode_texts
from tkre.train.config import PretrainConfig, SCLSettings
from tkre.train.engines import make_engine
from tkre.train.loop import train
from tkre.train.model import PretrainModel


def resolve_paths(cfg: PretrainConfig, root: str) -> PretrainConfig:
    """A copy of ``cfg`` with the corpus, init_from, data and schema file paths absolute against ``root``
    (workers start elsewhere), and description anchors given the corpus's dataset when ``scl.schema`` is null."""
    init_from = cfg.init_from or "minilm"
    local = absolute(init_from, root)
    corpus = absolute(cfg.corpus, root)
    scl = cfg.scl
    if scl is not None and scl.schema and os.path.exists(absolute(scl.schema, root)):
        scl = dataclasses.replace(scl, schema=absolute(scl.schema, root))  # a schema file
    elif scl is not None and scl.anchors == "description" and scl.schema is None:
        source = synthesis_support(corpus).dataset  # a registered dataset, or a task folder
        scl = dataclasses.replace(scl, schema=absolute(source, root) if is_task_folder(source) else source)
    return dataclasses.replace(cfg, init_from=local if os.path.exists(local) else init_from, corpus=corpus, scl=scl,
                               data_dir=str(data_dir(cfg.data_dir and absolute(cfg.data_dir, root)).resolve()))


def corpus_texts(cfg: PretrainConfig) -> tuple[list[PretrainText], list[str]]:
    """The checked pre-training texts of ``cfg.corpus`` under the shot settings, without the validation
    relations when ``val`` is set, and those relations."""
    synthesis = read_synthesis(cfg.corpus)
    dropped = Counter()
    texts = pretraining_texts(synthesis, support_of(synthesis, cfg.data_dir), tuple(cfg.sources),
                              cfg.support_k, cfg.synthetic_per_relation, dropped, cfg.hygiene)
    if dropped:
        print(f"[corpus] left out by corpus hygiene: {dict(dropped)}", file=sys.stderr)
    if cfg.val is None:
        return texts, []
    heldout = validation_relations(cfg.val, cfg.data_dir)
    return [t for t in texts if t.relation not in heldout], heldout


def train_stage(cfg: PretrainConfig, texts: list[PretrainText], heldout: list[str], ctx) -> dict:
    """Texts (read and checked by the driver) -> examples -> model -> engine -> the shared train loop on ``ctx``."""
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
