"""K-shot fine-tuning, the paper's protocol: typed punctuation markers, marker pooling, MLP head,
AdamW (lr 3e-5, eps 1e-6), 10% linear warmup, gradient clipping at 1.0, and the test score of
the epoch with the best dev micro-F1 (no-relation class excluded).

With ``synthetic`` (a synthesis output), each seed's training set also gets that output's accepted
instances of the task's relations, at most ``synthetic_per_relation`` each (``tkre.data.synthetic``):
the paper's task-oriented fine-tuning.

Usage::

    task = load_kshot("wiki80", k=8, seed=13)
    result = finetune(task, FinetuneConfig(model="minilm"), seed=13)   # {"test_f1", "dev_f1", ...}
    finetune_seeds("wiki80", 8, [13, 21], FinetuneConfig(), save="runs/clf")   # keeps the best-dev classifier
    # (a tkre.models.classifier.RelationClassifier, loaded back by RelationClassifier.from_pretrained)
    run_finetune(FinetuneRun("semeval", 8, [13], synthetic="runs/synth_semeval_k8"), model="minilm")
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from tkre.config import at_least, checked, fraction, positive
from tkre.data.datasets import KShotTask, check_kshot, limit_per_relation, load_kshot, task_label, unknown_kshot_dataset
from tkre.data.instance import RelationInstance
from tkre.data.pretrain import read_synthesis
from tkre.data.synthetic import add_synthetic
from tkre.eval.metrics import mean_std, micro_f1
from tkre.models.classifier import ClassifierSettings, RelationClassifier
from tkre.models.encoder import Features, default_device
from tkre.storage import staged


@dataclass
class FinetuneConfig(ClassifierSettings):
    """Hyper-parameters of one K-shot fine-tuning run; the classifier's own settings are its base."""

    epochs: int = positive(20)
    batch_size: int = positive(16)
    eval_batch_size: int = positive(64)
    lr: float = positive(3e-5)
    eps: float = positive(1e-6)
    weight_decay: float = at_least(0.01, 0)
    warmup_ratio: float = fraction(0.1)
    max_grad_norm: float = positive(1.0)


@dataclass
class FinetuneRun:
    """One fine-tuning protocol run: a dataset's K-shot splits over seeds (a task folder: its own files)."""

    dataset: str = checked(unknown_kshot_dataset, "wiki80")  # a registered dataset with K-shot tasks, or a task folder
    k_shot: int = positive(8)
    seeds: list[int] = field(default_factory=lambda: [13, 21, 42, 87, 100])
    limit_per_relation: int | None = positive(None)  # of dev and test, for quick runs
    synthetic: str | None = None  # a synthesis output: its accepted instances join each training set
    synthetic_per_relation: int = at_least(8, 0)  # at most this many per relation (the reference: 8)
    train: FinetuneConfig = field(default_factory=FinetuneConfig)
    save: str | None = None  # keep the best-dev classifier here (a folder or s3:// prefix)


def predict(model: RelationClassifier, features: list[Features], batch_size: int) -> list[int]:
    """Label ids for featurized instances, in input order."""
    model.eval()
    return model.logits(features, batch_size).argmax(-1).tolist()


def finetune(task: KShotTask, cfg: FinetuneConfig, seed: int, progress: bool = True, keep: bool = False) -> dict:
    """Trains on ``task.train``, picks the epoch by dev micro-F1, returns its test micro-F1 (and, with
    ``keep``, the classifier of that epoch as ``classifier``)."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    device = default_device()
    model = RelationClassifier(cfg, sorted(task.label2id, key=task.label2id.get)).to(device)
    no_rel = task.label2id.get(task.no_relation) if task.no_relation else None
    data = {}
    for name, part in (("train", task.train), ("dev", task.dev), ("test", task.test)):
        data[name] = (model.encoder.featurize(part), [task.label2id[x.relation] for x in part])
    train_features, train_labels = data["train"]

    steps_per_epoch = -(-len(train_features) // cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay, fused=True)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
    generator = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()

    best = {"dev_f1": -1.0, "epoch": -1, "state": None}
    dev_curve = []
    for epoch in tqdm(range(cfg.epochs), desc=f"finetune seed {seed}", disable=not progress):
        model.train()
        for b in torch.randperm(len(train_features), generator=generator).split(cfg.batch_size):
            batch = model.encoder.collate([train_features[i] for i in b.tolist()])
            loss = loss_fn(model(batch), torch.tensor([train_labels[i] for i in b.tolist()], device=device))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
        dev_f1 = micro_f1(predict(model, data["dev"][0], cfg.eval_batch_size), data["dev"][1], no_rel)["f1"]
        dev_curve.append(dev_f1)
        if dev_f1 > best["dev_f1"]:
            best = {"dev_f1": dev_f1, "epoch": epoch, "state": copy.deepcopy(model.state_dict())}

    model.load_state_dict(best["state"])
    test = micro_f1(predict(model, data["test"][0], cfg.eval_batch_size), data["test"][1], no_rel)
    kept = {"classifier": model} if keep else {}
    return {
        **kept,
        "seed": seed,
        "test_f1": test["f1"],
        "test_precision": test["precision"],
        "test_recall": test["recall"],
        "dev_f1": best["dev_f1"],
        "best_epoch": best["epoch"],
        "dev_curve": dev_curve,
        "train_size": len(train_features),
        "test_size": len(data["test"][0]),
        "seconds": time.perf_counter() - start,
        "config": asdict(cfg),
    }


def finetune_seeds(
    dataset: str, k_shot: int, seeds: list[int], cfg: FinetuneConfig, data_dir=None, limit: int | None = None,
    progress: bool = True, save: str | None = None, synthetic: list[RelationInstance] | None = None,
    synthetic_per_relation: int = 8,
) -> dict:
    """One fine-tuning run per seed (its own K-shot split), with mean and std of test micro-F1.

    ``limit`` keeps the first N dev and test instances of each relation (quick runs only). ``save`` (a
    folder or ``s3://`` prefix) keeps the classifier of the seed with the best dev micro-F1. ``synthetic``
    instances join each training set, at most ``synthetic_per_relation`` per relation.
    """
    runs, best = [], None
    for seed in seeds:
        task = load_kshot(dataset, k_shot, seed, data_dir)
        added = None
        if synthetic is not None:  # before ``limit``: a copy of any dev or test sentence is refused
            task, added = add_synthetic(task, synthetic, synthetic_per_relation)
        task.dev, task.test = limit_per_relation(task.dev, limit), limit_per_relation(task.test, limit)
        run = finetune(task, cfg, seed, progress, keep=save is not None)
        run["synthetic"] = added or {"added": 0}
        classifier = run.pop("classifier", None)
        if classifier is not None and (best is None or run["dev_f1"] > best[1]["dev_f1"]):
            best = (classifier, run)
        runs.append(run)
    if best is not None:
        measured = {"dataset": dataset, "k_shot": k_shot, "task": task_label(dataset, k_shot),
                    **{k: best[1][k] for k in ("seed", "dev_f1", "test_f1")},
                    "train_instances": best[1]["train_size"], "synthetic_instances": best[1]["synthetic"]["added"]}
        with staged(save) as folder:
            best[0].save_pretrained(folder, measured)
    mean, std = mean_std([r["test_f1"] for r in runs])
    return {
        "dataset": dataset,
        "k_shot": k_shot,
        "model": cfg.model,
        "seeds": list(seeds),
        "test_f1_mean": mean,
        "test_f1_std": std,
        "test_size": runs[0]["test_size"],
        "synthetic_added": [r["synthetic"]["added"] for r in runs],
        "per_seed": [{k: v for k, v in r.items() if k != "config"} for r in runs],
        "config": asdict(cfg),
    }


def check_finetune(ft: FinetuneRun, data_dir=None, synthesis_ready: bool = True) -> None:
    """What fails before a run writes anything: the splits, and the synthesis output (unless an earlier stage makes it)."""
    for seed in ft.seeds:
        check_kshot(ft.dataset, ft.k_shot, seed, data_dir)
    if ft.synthetic and synthesis_ready:
        read_synthesis(ft.synthetic)


def run_finetune(ft: FinetuneRun, model: str, data_dir=None, progress: bool = True) -> dict:
    """``ft`` with the encoder at ``model`` (a local folder or name): the results (``synthetic``: the output read)."""
    synthetic = read_synthesis(ft.synthetic).synthetic if ft.synthetic else None
    result = finetune_seeds(ft.dataset, ft.k_shot, ft.seeds, dataclasses.replace(ft.train, model=model), data_dir,
                            ft.limit_per_relation, progress, ft.save, synthetic, ft.synthetic_per_relation)
    return {**result, "synthetic": ft.synthetic, "synthetic_per_relation": ft.synthetic_per_relation}
