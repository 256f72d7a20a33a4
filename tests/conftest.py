"""Fixtures shared by every test package."""

import pytest


@pytest.fixture
def isolated_env(monkeypatch, tmp_path):
    """Own local Ray (never a head someone left running), no auth token, no ambient MLflow URI."""
    monkeypatch.setenv("RAY_ADDRESS", "local")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    import ray

    if ray.is_initialized():
        ray.shutdown()
