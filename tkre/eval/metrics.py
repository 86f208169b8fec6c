"""Scores: micro-F1 without the no-relation class, mean with a 95% interval, mean/std, a paired test.

Usage: ``micro_f1(pred, gold, no_relation=0)``; ``mean_ci95([0.5, 0.7])``; ``paired_test(acc_a, acc_b)``
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


def paired_test(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Paired t-test of ``a`` against ``b`` (per-episode accuracies of two methods on the same episodes,
    or per-seed scores of two methods on the same seeds): mean difference, its 95% interval and the
    two-sided p-value, both from Student's t with n - 1 degrees of freedom."""
    from scipy import stats

    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"a paired test needs two equally long samples of 2 or more, got {len(a)} and {len(b)}")
    diffs = [x - y for x, y in zip(a, b)]
    diff, std = mean_std(diffs)
    se = std / math.sqrt(len(diffs))
    if se == 0:
        return {"diff": diff, "ci95": 0.0, "p": float(diff == 0)}
    dof = len(diffs) - 1
    return {"diff": diff, "ci95": float(stats.t.ppf(0.975, dof) * se), "p": float(2 * stats.t.sf(abs(diff / se), dof))}
