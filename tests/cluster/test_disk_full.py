"""A study whose root fills up mid-study (a small tmpfs this test mounts and unmounts itself): the
trials that cannot write end failed with an ENOSPC failure_reason, the driver stops with a clear
message and the resume line (no hang, no traceback), every record already made is kept (MLflow
lives on another path), and `--resume` finishes the study once space is back."""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from analysis.schema import Tag, TrialStatus
from tests.study.conftest import child_runs, optuna_trials

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME, TRIALS = "full", 5


def _mount_unavailable():
    if os.geteuid() != 0 or not shutil.which("mount"):
        return "mounting a tmpfs needs root and mount(8)"
    return None


@pytest.fixture
def small_disk():
    """A 96 MB tmpfs of this test's own, unmounted (lazily, if busy) whatever happens."""
    folder = tempfile.mkdtemp(prefix="bsw-full-", dir="/tmp")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m,mode=0700", "bsw-full", folder], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", folder], check=False)
        os.rmdir(folder)


def study(root, uri, *extra):
    cmd = [sys.executable, "-m", "study.run", "--root", root, "--tracking-uri", uri, *extra]
    if "--resume" not in extra:
        cmd += ["--name", NAME, "--num-trials", str(TRIALS), "--max-concurrent", "2", "--sampler", "random",
                "--objectives", "recon_error,recon_mse", "--set", "trial.steps=120", "--set", "trial.report_every=20",
                "--set", "trial.checkpoint_every=20", "--set", "trial.metrics=recon", "--set", "trial.eval_size=64",
                "--set", "trial.val_size=64", "--set", "trial.kl_warmup_steps=0", "--set", "trial.latent_dim=4",
                "--set", "trial.batch_size=32", "--set", "resources.reuse_actors=false"]
    env = {**os.environ, "PYTHONPATH": REPO, "RAY_ADDRESS": "local", "RAY_AUTH_MODE": "disabled"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def fill(folder):
    """Write a filler file until the file system refuses (ENOSPC)."""
    with open(os.path.join(folder, "filler"), "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 2**20)
                handle.flush()
        except OSError:
            pass


def curves(uri):
    client = MlflowClient(uri)
    return {(c.info.run_id, m.step, m.value) for c in child_runs(uri, NAME)
            for m in client.get_metric_history(c.info.run_id, "train/loss")}


@pytest.mark.skipif(_mount_unavailable() is not None, reason=str(_mount_unavailable()))
def test_root_fills_up_mid_study_then_resume_finishes(small_disk, tmp_path):
    root, uri = os.path.join(small_disk, "runs"), f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = study(root, uri)
    try:
        deadline = time.time() + 1500  # Ray's start alone took minutes on a loaded CI machine
        while len(glob.glob(f"{root}/{NAME}/tune/*/checkpoint_*")) < 2 and proc.poll() is None:
            assert time.time() < deadline, "no checkpoint in time"
            time.sleep(0.5)
        fill(small_disk)  # (if the study filled the disk itself first, it has stopped already)
        out, _ = proc.communicate(timeout=600)  # never a hang
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, out[-4000:]
    assert "is full" in out and f"--resume {NAME}" in out and "Traceback" not in out.split("stopped: the disk")[-1], \
        out[-4000:]
    before = curves(uri)
    reasons = {c.data.tags.get(Tag.TRIAL_ID): c.data.tags.get(Tag.FAILURE_REASON, "") for c in child_runs(uri, NAME)
               if c.data.tags.get(Tag.TRIAL_STATUS) == TrialStatus.FAILED}
    assert reasons and all(r.startswith("ENOSPC: ") for r in reasons.values()), reasons
    os.remove(os.path.join(small_disk, "filler"))  # space is back
    resumed = study(root, uri, "--resume", NAME)
    out, _ = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, out[-4000:]
    children = [c for c in child_runs(uri, NAME) if c.data.tags[Tag.TRIAL_STATUS] != TrialStatus.ABANDONED]
    assert len({c.data.tags[Tag.TRIAL_ID] for c in children}) == len(children) == TRIALS, out[-6000:]
    for c in children:  # every trial accounted for: completed, or failed with its reason
        status = c.data.tags[Tag.TRIAL_STATUS]
        assert status == TrialStatus.COMPLETED or (status == TrialStatus.FAILED and "ENOSPC" in
                                                   c.data.tags.get(Tag.FAILURE_REASON, "")), c.data.tags
    assert reasons.keys() <= {c.data.tags[Tag.TRIAL_ID] for c in children}
    assert before <= curves(uri)  # every record made before the disk filled is kept
    trials = optuna_trials(root, NAME)
    assert len(trials) == TRIALS and all(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in trials)
