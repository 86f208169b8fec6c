import math

import pytest

from tkre.eval.metrics import mean_ci95, mean_std, micro_f1


def test_micro_f1_excludes_no_relation_by_hand():
    gold = [0, 0, 1, 1, 2, 2]
    pred = [0, 1, 1, 0, 2, 1]
    # non-NA predictions: 1,1,2,1 (4), correct among them: 1 (idx 2), 2 (idx 4) -> P = 2/4; gold non-NA: 4 -> R = 2/4
    r = micro_f1(pred, gold, no_relation=0)
    assert (r["precision"], r["recall"], r["f1"]) == (0.5, 0.5, 0.5)
    # all predicted NA: nothing predicted, F1 = 0
    assert micro_f1([0] * 6, gold, no_relation=0)["f1"] == 0.0


def test_micro_f1_without_no_relation_is_accuracy():
    r = micro_f1([1, 2, 3, 3], [1, 2, 3, 0])
    assert r["f1"] == pytest.approx(0.75) and r["precision"] == r["recall"] == 0.75


def test_micro_f1_precision_recall_differ():
    # gold non-NA 3, predicted non-NA 2, correct 2 -> P 1, R 2/3, F1 0.8
    r = micro_f1([1, 2, 0, 0], [1, 2, 3, 0], no_relation=0)
    assert r["precision"] == 1 and r["recall"] == pytest.approx(2 / 3) and r["f1"] == pytest.approx(0.8)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        micro_f1([1], [1, 2])


def test_mean_std_and_ci():
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(2 ** 0.5))
    mean, ci = mean_ci95([1.0, 3.0, 2.0, 2.0])
    assert mean == 2.0 and ci == pytest.approx(1.96 * (2 / 3) ** 0.5 / 2)
    assert mean_ci95([0.5]) == (0.5, 0.0)


def test_paired_test_by_hand():
    from tkre.eval.metrics import paired_test

    a, b = [0.5, 0.7, 0.9, 0.6], [0.4, 0.7, 0.6, 0.6]
    # differences 0.1, 0, 0.3, 0: mean 0.1, sample std sqrt(0.02) = 0.1414, se 0.0707, t = sqrt(2) with 3 degrees
    # of freedom: CDF 1/2 + (x / (1 + x^2) + atan x) / pi at x = t / sqrt(3), t(0.975; 3) = 3.18245
    t = paired_test(a, b)
    x = math.sqrt(2 / 3)
    assert t["diff"] == pytest.approx(0.1) and t["ci95"] == pytest.approx(3.182446 * 0.070711, abs=1e-5)
    assert t["p"] == pytest.approx(2 * (0.5 - (x / (1 + x * x) + math.atan(x)) / math.pi), abs=1e-6)
    assert paired_test(a, a)["p"] == 1.0
    with pytest.raises(ValueError, match="equally long"):
        paired_test(a, b[:3])
