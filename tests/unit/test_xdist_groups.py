"""Tests marked with one ``xdist_group`` share a worker under ``make test`` (``--dist loadgroup``), so a
session fixture they share (the pipeline's reference run, one local Ray) is set up once, not per worker."""

import pytest


@pytest.mark.xdist_group("grouping_check")
def test_a_grouped_test_carries_its_group_when_the_suite_runs_with_dist_loadgroup(request):
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("runs only on a pytest-xdist worker under --dist loadgroup")
    # pytest-xdist routes a group by this suffix; under pytest 9 it is never added and groups spread
    assert request.node.nodeid.endswith("@grouping_check")
