"""SCL against a naive per-example reference, with and without in-batch negatives; relation ids from the data."""

import math

import pytest
import torch

from tkre.losses.scl import RelationVocab, SpanContrastiveHead


def batch(seed=0, b=6, t=12, h=16):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(b, t, h, generator=g)
    positive = torch.zeros(b, t, dtype=torch.bool)
    negative = torch.zeros(b, t, dtype=torch.bool)
    for i in range(b):
        positive[i, 2 : 4 + i % 3] = True
        negative[i, 8 : 9 + i % 3] = True
    return hidden, positive, negative, torch.tensor([0, 1, 0, 2, 1, 3])[:b]


def reference(head, hidden, positive, negative, relations, in_batch):
    """One example at a time, in plain Python loops over the batch."""
    def proj(v):
        v = head.projection(v)
        return v / v.norm()

    def mean(i, mask):
        return hidden[i][mask[i]].mean(0)

    losses = []
    for i in range(len(relations)):
        a = proj(head.anchors.weight[relations[i]])
        p, n = proj(mean(i, positive)), proj(mean(i, negative))
        scores = [a @ p, a @ n]
        if in_batch:
            for j in range(len(relations)):
                if j != i and relations[j] != relations[i]:
                    scores.append(a @ proj(mean(j, positive)))
                if j != i:
                    scores.append(a @ proj(mean(j, negative)))
            for r in sorted(set(relations.tolist()) - {relations[i].item()}):
                scores.append(a @ proj(head.anchors.weight[r]))
        scores = torch.stack(scores) / head.temperature
        losses.append(-torch.log_softmax(scores, 0)[0])
    return torch.stack(losses).mean()


@pytest.mark.parametrize("in_batch", [False, True])
def test_matches_the_naive_reference_and_its_gradients(in_batch):
    torch.manual_seed(0)
    head = SpanContrastiveHead(16, 4, projection_size=8, temperature=0.1, in_batch_negatives=in_batch)
    hidden, positive, negative, relations = batch()
    hidden.requires_grad_(True)
    loss = head(hidden, positive, negative, relations)
    (grad,) = torch.autograd.grad(loss, hidden)
    expected = reference(head, hidden, positive, negative, relations, in_batch)
    (expected_grad,) = torch.autograd.grad(expected, hidden)
    assert torch.allclose(loss, expected, atol=1e-5)
    assert torch.allclose(grad, expected_grad, atol=1e-5)


def test_instances_without_a_span_are_left_out():
    torch.manual_seed(0)
    head = SpanContrastiveHead(16, 4, temperature=0.5)
    hidden, positive, negative, relations = batch()
    negative[1] = False
    positive[4] = False
    keep = torch.tensor([0, 2, 3, 5])
    assert torch.allclose(head(hidden, positive, negative, relations),
                          head(hidden[keep], positive[keep], negative[keep], relations[keep]))
    empty = head(hidden, torch.zeros_like(positive), negative, relations)
    assert empty.item() == 0.0 and empty.requires_grad


def test_temperature_scales_the_logits():
    torch.manual_seed(0)
    cold = SpanContrastiveHead(16, 4, temperature=0.05)
    warm = SpanContrastiveHead(16, 4, temperature=1.0)
    warm.load_state_dict(cold.state_dict())
    args = batch()
    # with 2 candidates and cosine scores in [-1, 1], the loss at temperature 1 stays near log 2
    assert abs(warm(*args).item() - math.log(2)) < 0.6
    assert cold(*args).item() != pytest.approx(warm(*args).item())
    with pytest.raises(ValueError, match="temperature"):
        SpanContrastiveHead(16, 4, temperature=0.0)


def test_relation_ids_come_from_the_data_and_unknown_relations_are_errors():
    vocab = RelationVocab(["founded by", "country", "founded by", "architect"])
    assert vocab.names == ["architect", "country", "founded by"] and len(vocab) == 3
    assert vocab.ids(["country", "architect"]) == [1, 0]
    with pytest.raises(KeyError, match="'mother' is not one of the 3 training relations"):
        vocab.ids(["country", "mother"])


def described_reference(hidden, positive, negative, index, anchors, temperature, in_batch):
    """Description anchors, one example at a time: own anchor vs the other anchors and the negatives."""
    def unit(v):
        return v / v.norm()

    def mean(i, mask):
        return unit(hidden[i][mask[i]].mean(0))

    losses = []
    for i in range(len(index)):
        p, a = mean(i, positive), unit(anchors[index[i]])
        scores = [a @ p] + [unit(anchors[u]) @ p for u in range(len(anchors)) if u != index[i]]
        if in_batch:
            scores += [a @ mean(j, positive) for j in range(len(index)) if index[j] != index[i]]
            scores += [a @ mean(j, negative) for j in range(len(index))]
        else:
            scores.append(a @ mean(i, negative))
        losses.append(-torch.log_softmax(torch.stack(scores) / temperature, 0)[0])
    return torch.stack(losses).mean()


@pytest.mark.parametrize("in_batch", [False, True])
def test_description_anchors_match_the_naive_reference_and_train_both_sides(in_batch):
    head = SpanContrastiveHead(16, 0, temperature=0.2, in_batch_negatives=in_batch)
    assert not list(head.parameters())  # no learned anchors, no projection
    hidden, positive, negative, relations = batch()
    anchors = torch.randn(4, 16, generator=torch.Generator().manual_seed(1))
    hidden.requires_grad_(True)
    anchors.requires_grad_(True)
    loss = head(hidden, positive, negative, relations, anchors=anchors)
    grads = torch.autograd.grad(loss, (hidden, anchors))
    expected = described_reference(hidden, positive, negative, relations, anchors, 0.2, in_batch)
    expected_grads = torch.autograd.grad(expected, (hidden, anchors))
    assert torch.allclose(loss, expected, atol=1e-5)
    assert all(torch.allclose(g, e, atol=1e-5) for g, e in zip(grads, expected_grads))
    assert grads[1].abs().sum() > 0  # the descriptions' encoder learns too
    empty = head(hidden, torch.zeros_like(positive), negative, relations, anchors=anchors)
    assert empty.item() == 0.0 and empty.requires_grad
