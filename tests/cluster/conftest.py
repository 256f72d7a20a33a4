"""A local multi-node cluster (Ray head + 2 workers + MLflow server) for the cluster tests."""

import pytest

from cluster import local


@pytest.fixture
def local_cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    state = local.up(str(tmp_path / "cluster"), workers=2, cpus_per_worker=1)
    try:
        yield state
    finally:
        local.down(state["root"])
