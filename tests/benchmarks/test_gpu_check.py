"""benchmarks/gpu_check.py --device cpu --quick, as CI runs it: every section's table is there with
positive rates, batches come from the trial's device, and the 4-trial --gpus 0.5 study completes on
Ray's logical GPU."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models import MODELS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def table(report: str, heading: str) -> list[dict[str, str]]:
    """The rows of the Markdown table under the section whose heading starts with ``heading``."""
    lines = report.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def rate(cell: str) -> float:
    return float(cell.replace(",", "").rstrip("×"))


def test_quick_cpu_check_reports_rates_device_batches_and_a_completed_study(isolated_env):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick",
                           "--study-root", str(isolated_env / "check")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = done.stdout

    training = table(report, "## (a)")
    assert {(r["model"], r["batch"]) for r in training} == {(m, b) for m in MODELS for b in ("8", "16")}
    assert all(rate(r[p]) > 0 for r in training for p in ("fp32", "bf16", "bf16+compile"))
    assert "explicit torch.compile(eager)" in report  # the project does not compile on CPU; the check does

    packed = table(report, "## (b)")
    assert [(r["trials"], r["--gpus"]) for r in packed] == [("1", "1"), ("2", "0.5")]
    assert all(rate(r["aggregate img/s"]) > 0 and rate(r["slowest trial"]) > 0 for r in packed)

    batches = table(report, "## (c)")
    assert [r["batch"] for r in batches] == ["8", "16"]
    assert all(r["batch on"] == r["trial device"] == "cpu" for r in batches)
    assert all(0 < rate(r["train_batch ms"]) < rate(r["train step ms"]) for r in batches)

    study = table(report, "## (d)")
    assert study == [{"completed": "4", "total": "4", "wall s": study[0]["wall s"], "exit code": "0"}]
    assert "--gpus 0.5" in report
