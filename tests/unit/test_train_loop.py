"""The train loop: batches are a function of (seed, step, rank); evaluation every ``eval_every`` steps."""

from pathlib import Path

import pytest

from tkre.train.loop import batch_indices


def test_batches_cover_each_epoch_once_per_rank_split_and_reshuffle():
    seen = [batch_indices(s, r, 2, 3, 13, seed=0) for s in range(2) for r in range(2)]
    assert {e for e, _ in seen} == {0} and sorted(i for _, ids in seen for i in ids) == sorted(set(
        i for _, ids in seen for i in ids)) and len({i for _, ids in seen for i in ids}) == 12
    assert batch_indices(2, 0, 2, 3, 13, 0)[0] == 1
    assert batch_indices(2, 0, 2, 3, 13, 0)[1] != batch_indices(0, 0, 2, 3, 13, 0)[1]
    with pytest.raises(ValueError, match="fewer than one global batch"):
        batch_indices(0, 0, 4, 4, 13, 0)


class Engine:
    """A one-parameter engine: enough for the loop's bookkeeping."""

    def __init__(self):
        import torch

        self.w = torch.nn.Parameter(torch.ones(()))

    def __call__(self, batch):
        return {"loss": self.w * batch["attention_mask"].float().mean()}

    def backward(self, loss):
        pass

    def step(self):
        pass

    def save(self, folder, state):
        Path(folder).mkdir(parents=True)


def test_evaluate_runs_every_eval_every_steps_and_at_the_end_on_rank_0_only(tmp_path):
    import torch

    from tkre.train.config import LoopSettings
    from tkre.train.loop import LocalContext, train

    calls = []
    evaluate = lambda: calls.append(1) or {"val/acc": 50.0 + len(calls)}  # noqa: E731
    collate = lambda xs, epoch: {"attention_mask": torch.ones(len(xs), 3)}  # noqa: E731
    settings = LoopSettings(max_steps=7, batch_size=2, checkpoint_every=100, log_every=100, eval_every=3)
    ctx = LocalContext(str(tmp_path))
    last = train(Engine(), list(range(8)), collate, settings, ctx, evaluate=evaluate)
    assert [(m["step"], m.get("val/acc")) for m in ctx.history] == [(3, 51.0), (6, 52.0), (7, 53.0)]
    assert last["val/acc"] == 53.0

    other = LocalContext(str(tmp_path / "rank1"))
    other.rank, other.world_size = 1, 2
    calls.clear()
    train(Engine(), list(range(8)), collate, settings, other, evaluate=evaluate)
    assert not calls and [m["step"] for m in other.history] == [3, 6, 7]
