"""K-shot fine-tuning, the paper's protocol: typed punctuation markers, marker pooling, MLP head,
AdamW (lr 3e-5, eps 1e-6), 10% linear warmup, gradient clipping at 1.0, and the test score of
the epoch with the best dev micro-F1 (no-relation class excluded).

Usage::

    task = load_kshot("wiki80", k=8, seed=13)
    result = finetune(task, FinetuneConfig(model="minilm"), seed=13)   # {"test_f1", "dev_f1", ...}
    finetune_seeds("wiki80", 8, [13, 21], FinetuneConfig(), save="runs/clf")   # keeps the best-dev classifier
    # (a tkre.models.classifier.RelationClassifier, loaded back by RelationClassifier.from_pretrained)
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from tkre.config import at_least, fraction, positive
from tkre.data.datasets import KShotTask, limit_per_relation, load_kshot
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
    progress: bool = True, save: str | None = None,
) -> dict:
    """One fine-tuning run per seed (its own K-shot split), with mean and std of test micro-F1.

    ``limit`` keeps the first N dev and test instances of each relation (quick runs only). ``save`` (a
    folder or ``s3://`` prefix) keeps the classifier of the seed with the best dev micro-F1.
    """
    runs, best = [], None
    for seed in seeds:
        task = load_kshot(dataset, k_shot, seed, data_dir)
        task.dev, task.test = limit_per_relation(task.dev, limit), limit_per_relation(task.test, limit)
        run = finetune(task, cfg, seed, progress, keep=save is not None)
        classifier = run.pop("classifier", None)
        if classifier is not None and (best is None or run["dev_f1"] > best[1]["dev_f1"]):
            best = (classifier, run)
        runs.append(run)
    if best is not None:
        measured = {"dataset": dataset, "k_shot": k_shot, **{k: best[1][k] for k in ("seed", "dev_f1", "test_f1")}}
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
        "per_seed": [{k: v for k, v in r.items() if k != "config"} for r in runs],
        "config": asdict(cfg),
    }
