import math

import pytest
import torch

from tkre.models.prototype import predict, prototype_scores, prototypes


def unit(v):
    return v / math.sqrt(float((v * v).sum()))


def naive_prototype(shots, description, metric, weight, use_description=True):
    """One relation's prototype, written out: the support mean, then the description as ``weight`` more shots."""
    if metric == "cosine":
        shots = [unit(s) for s in shots]
        description = unit(description) if description is not None else None
    if not shots:
        return description
    mean = sum(shots) / len(shots)
    if metric == "cosine":
        mean = unit(mean)
    if description is None or not use_description:
        return mean
    return (len(shots) * mean + weight * description) / (len(shots) + weight)


def naive_score(q, proto, metric):
    if metric == "euclidean":
        return -float(((q - proto) ** 2).sum())
    if metric == "dot":
        return float((q * proto).sum())
    return float((q * proto).sum() / (q.norm() * proto.norm()))


def naive(support, query, metric, threshold=None, descriptions=None, weight=1.0, keep=None):
    """One episode, one query, one prototype at a time."""
    out = []
    for e in range(support.size(0)):
        protos = [naive_prototype([support[e, n, k] for k in range(support.size(2))],
                                  None if descriptions is None else descriptions[e, n], metric, weight,
                                  True if keep is None else bool(keep[e, n]))
                  for n in range(support.size(1))]
        row = []
        for q in query[e]:
            scores = [naive_score(q, p, metric) for p in protos]
            best = max(range(len(scores)), key=scores.__getitem__)
            row.append(support.size(1) if threshold is not None and scores[best] < threshold else best)
        out.append(row)
    return torch.tensor(out)


def ours(support, query, metric, threshold=None, descriptions=None, weight=1.0, keep=None):
    return predict(prototype_scores(prototypes(support, metric, descriptions, weight, keep), query, metric), threshold)


def random_episode(seed, e, n, k, q=9, d=16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(e, n, k, d, generator=g), torch.randn(e, q, d, generator=g), torch.randn(e, n, d, generator=g)


@pytest.mark.parametrize("metric", ["euclidean", "dot", "cosine"])
@pytest.mark.parametrize("n,k", [(5, 1), (10, 5)])
def test_matches_naive_loop(metric, n, k):
    support, query, _ = random_episode(0, 7, n, k)
    assert torch.equal(ours(support, query, metric), naive(support, query, metric))


@pytest.mark.parametrize("metric", ["euclidean", "dot", "cosine"])
@pytest.mark.parametrize("weight", [0.5, 1.0, 3.0])
def test_description_prototypes_match_naive_loop(metric, weight):
    support, query, descriptions = random_episode(2, 6, 5, 3)
    got = ours(support, query, metric, descriptions=descriptions, weight=weight)
    assert torch.equal(got, naive(support, query, metric, descriptions=descriptions, weight=weight))
    assert not torch.equal(got, ours(support, query, metric))  # the descriptions change predictions


def test_dropped_descriptions_keep_the_support_mean():
    support, query, descriptions = random_episode(3, 6, 5, 2)
    keep = torch.rand(6, 5, generator=torch.Generator().manual_seed(0)) > 0.5
    got = prototypes(support, "cosine", descriptions, 2.0, keep)
    assert torch.equal(ours(support, query, "cosine", descriptions=descriptions, weight=2.0, keep=keep),
                       naive(support, query, "cosine", descriptions=descriptions, weight=2.0, keep=keep))
    assert torch.allclose(got[~keep], prototypes(support, "cosine")[~keep])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_zero_shot_scores_by_the_descriptions_alone(metric):
    _, query, descriptions = random_episode(4, 5, 10, 0)
    support = torch.empty(5, 10, 0, 16)
    assert torch.equal(ours(support, query, metric, descriptions=descriptions),
                       naive(support, query, metric, descriptions=descriptions))
    query = descriptions[:, [7, 2, 9]] * 3.0  # a query on a description's ray is that relation under cosine
    assert ours(support, query, "cosine", descriptions=descriptions).tolist() == [[7, 2, 9]] * 5
    with pytest.raises(ValueError, match="0-shot"):
        prototypes(support, metric)


def test_weight_moves_the_prototype_towards_the_description():
    support = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])  # 2-way 1-shot
    descriptions = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])  # each relation described as the other one
    query = torch.tensor([[[0.9, 0.1]]])
    assert ours(support, query, "cosine", descriptions=descriptions, weight=0.5).tolist() == [[0]]
    assert ours(support, query, "cosine", descriptions=descriptions, weight=2.0).tolist() == [[1]]


def test_cosine_ranking_ignores_length():
    support = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])
    query = torch.tensor([[[100.0, 90.0], [0.1, 0.2]]])
    assert ours(support, query, "cosine").tolist() == [[0, 1]]
    assert ours(support, query, "euclidean").tolist() == [[0, 1]]
    assert ours(support * 50, query, "euclidean").tolist() == [[0, 1]]
    assert ours(support * 50, query * 0.01, "cosine").tolist() == [[0, 1]]


def test_nota_threshold_predicts_n():
    support, query, _ = random_episode(1, 4, 5, 2, q=6, d=8)
    got = ours(support, query, "cosine", threshold=0.2)
    assert torch.equal(got, naive(support, query, "cosine", 0.2)) and (got == 5).any() and (got < 5).any()


def test_query_equal_to_a_prototype_is_classified_as_it():
    support = torch.eye(5).view(1, 5, 1, 5).repeat(1, 1, 3, 1)
    query = torch.eye(5)[[3, 0, 4]].unsqueeze(0)
    assert ours(support, query, "euclidean").tolist() == [[3, 0, 4]]
