"""The train loop's batches are a function of (seed, step, rank)."""

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
