"""Failures that say why, on a real local Ray and SQLite MLflow: a trial's deterministic error is
recorded (reason, attempt) and not retried; a study whose trials all failed ends failed, exit 1;
Ctrl-C ends with this project's resume command."""

import os
import signal
import subprocess
import sys
import time

import pytest

import study.driver
from analysis.schema import StudyStatus, Tag, TrialStatus
from study.run import main
from tests.study.conftest import child_runs, parent_runs

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--set", "trial.latent_dim=4", "--set", "trial.batch_size=16", "--set", "trial.report_every=20",
        "--set", "trial.checkpoint_every=20", "--set", "trial.kl_warmup_steps=20", "--set", "trial.metrics=recon",
        "--set", "trial.eval_size=64", "--set", "trial.val_size=32", "--objectives", "recon_error,recon_mse",
        "--sampler", "random", "--max-concurrent", "1"]


def test_all_trials_failing_deterministically_end_the_study_failed(isolated_env, capsys, monkeypatch):
    monkeypatch.setattr(study.driver, "check_dataset", lambda config: None)  # let the trials meet it
    empty = isolated_env / "empty"
    empty.mkdir()
    root = isolated_env / "runs"
    code = main(["--name", "nodata", "--root", str(root), "--num-trials", "2", "--dataset", "cars3d",
                 "--data-root", str(empty), "--steps", "40", *TINY])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "[betasweep] study nodata failed: none of its 2 trials completed" in out
    ends = [line for line in out.splitlines() if "] end " in line]
    assert len(ends) == 2 and all("failed (DatasetNotFoundError: data_root: Cars3D" in e for e in ends), ends
    assert all("(attempt 1 of 3; not retried: deterministic)" in e for e in ends), ends
    uri = f"sqlite:///{root / 'mlflow.db'}"
    assert parent_runs(uri, "nodata")[0].data.tags[Tag.STUDY_STATUS] == StudyStatus.FAILED
    children = child_runs(uri, "nodata")
    assert len(children) == 2
    for child in children:
        tags = child.data.tags
        assert tags[Tag.TRIAL_STATUS] == TrialStatus.FAILED and tags[Tag.ATTEMPTS] == "1"  # never retried
        assert tags[Tag.FAILURE_REASON].startswith("DatasetNotFoundError: data_root: Cars3D")
        assert tags[Tag.FAILURE_REASON].endswith("(attempt 1 of 3; not retried: deterministic)")


def test_ctrl_c_ends_with_the_resume_command(isolated_env):
    root = isolated_env / "runs"
    env = {**os.environ, "RAY_ADDRESS": "local", "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": REPO}
    proc = subprocess.Popen([sys.executable, "-m", "study.run", "--name", "ci", "--root", str(root),
                             "--num-trials", "4", "--steps", "2000", *TINY], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.time() + 180
        for line in proc.stdout:
            lines.append(line)
            if "] start " in line or time.time() > deadline:
                break
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(lines) + rest
    assert proc.returncode == 130, text
    assert text.strip().splitlines()[-1] == (f"[betasweep] study ci interrupted; its state is saved. Continue it "
                                             f"with: python -m study.run --resume ci --root {root}")
    assert "Tuner.restore(" not in text
    uri = f"sqlite:///{root / 'mlflow.db'}"
    assert parent_runs(uri, "ci")[0].data.tags[Tag.STUDY_STATUS] == StudyStatus.INTERRUPTED
    assert not (root / "ci" / "driver.lock").exists()
