import pytest
import torch

from tkre.eval.prototype import prototype_predict


def naive(support, query, metric, threshold=None):
    """One episode, one query, one prototype at a time."""
    out = []
    for e in range(support.size(0)):
        row = []
        for q in query[e]:
            scores = []
            for n in range(support.size(1)):
                proto = sum(support[e, n, k] for k in range(support.size(2))) / support.size(2)
                if metric == "euclidean":
                    scores.append(-float(((q - proto) ** 2).sum()))
                elif metric == "dot":
                    scores.append(float((q * proto).sum()))
                else:
                    scores.append(float((q * proto).sum() / (q.norm() * proto.norm())))
            best = max(range(len(scores)), key=scores.__getitem__)
            row.append(support.size(1) if threshold is not None and scores[best] < threshold else best)
        out.append(row)
    return torch.tensor(out)


@pytest.mark.parametrize("metric", ["euclidean", "dot", "cosine"])
@pytest.mark.parametrize("n,k", [(5, 1), (10, 5)])
def test_matches_naive_loop(metric, n, k):
    g = torch.Generator().manual_seed(0)
    support, query = torch.randn(7, n, k, 16, generator=g), torch.randn(7, 9, 16, generator=g)
    assert torch.equal(prototype_predict(support, query, metric), naive(support, query, metric))


def test_nota_threshold_predicts_n():
    g = torch.Generator().manual_seed(1)
    support, query = torch.randn(4, 5, 2, 8, generator=g), torch.randn(4, 6, 8, generator=g)
    got = prototype_predict(support, query, "cosine", nota_threshold=0.2)
    assert torch.equal(got, naive(support, query, "cosine", 0.2)) and (got == 5).any() and (got < 5).any()


def test_query_equal_to_a_prototype_is_classified_as_it():
    support = torch.eye(5).view(1, 5, 1, 5).repeat(1, 1, 3, 1)
    query = torch.eye(5)[[3, 0, 4]].unsqueeze(0)
    assert prototype_predict(support, query).tolist() == [[3, 0, 4]]
