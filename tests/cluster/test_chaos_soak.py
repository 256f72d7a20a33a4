"""The short chaos soak (benchmarks/chaos_soak.py --short) in CI: a 6-trial study on the local
cluster (network namespaces, PostgreSQL, authenticated MLflow) through a torn checkpoint, a
killed worker node, a killed and resumed driver and a killed MLflow server; every invariant holds
and nothing of the soak is left behind."""

import os
import re
import subprocess
import sys

import pytest

from cluster import netns

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNAVAILABLE = netns.unavailable()


@pytest.mark.skipif(UNAVAILABLE is not None, reason=f"network namespaces unavailable: {UNAVAILABLE}")
def test_short_chaos_soak_keeps_every_invariant():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "MLFLOW_TRACKING_"))}
    env["PYTHONPATH"] = REPO
    soak = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "chaos_soak.py"), "--short"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    out = soak.stdout + soak.stderr[-3000:]
    assert soak.returncode == 0, out[-6000:]
    for kind in ("checkpoint torn ×1", "worker node killed ×1", "driver killed ×1", "MLflow server killed ×1"):
        assert kind in soak.stdout, out[-4000:]
    torn = r" checkpoint torn: truncated /.*/state\.pt \(newest checkpoint \d+ s old\)$"
    assert re.search(torn, soak.stdout, re.M), out[-4000:]
    assert re.search(r"^records lost\s+0$", soak.stdout, re.M) and " NO " not in soak.stdout, out[-4000:]
