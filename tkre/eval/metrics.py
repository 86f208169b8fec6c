"""Scores: micro-F1 without the no-relation class, mean with a 95% interval, mean/std.

Usage: ``micro_f1(pred, gold, no_relation=0)``; ``mean_ci95([0.5, 0.7])``
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def micro_f1(pred: Sequence[int], gold: Sequence[int], no_relation: int | None = None) -> dict[str, float]:
    """Micro precision/recall/F1 over all classes but ``no_relation`` (TACRED scorer convention)."""
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} gold labels")
    correct = sum(1 for p, g in zip(pred, gold) if p == g and g != no_relation)
    predicted = sum(1 for p in pred if p != no_relation)
    actual = sum(1 for g in gold if g != no_relation)
    precision = correct / predicted if predicted else 0.0
    recall = correct / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its normal 95% confidence interval (1.96 standard errors)."""
    mean, std = mean_std(values)
    return mean, 1.96 * std / math.sqrt(len(values))
