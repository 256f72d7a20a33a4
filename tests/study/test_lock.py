"""One driver per study: a second is refused naming the holder; a lock left by a killed driver is
taken over; two studies on one root run side by side; refused studies leave no folder behind."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from study.lock import LOCK_FILE, StudyLock, StudyLocked

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HOLD = """
import sys, time
from study.lock import StudyLock
lock = StudyLock(sys.argv[1]); lock.acquire(); print("held", flush=True); time.sleep(600)
"""


def holder(study_dir):
    """A separate process holding the study's lock (it prints "held" once it does)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(study_dir)], cwd=REPO, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": REPO})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_driver_is_refused_naming_the_holder(tmp_path):
    proc = holder(tmp_path / "root" / "s1")
    try:
        with pytest.raises(StudyLocked) as info:
            StudyLock(str(tmp_path / "root" / "s1")).acquire()
        message = str(info.value)
        assert f"study 's1' is already being run by pid {proc.pid} on host {socket.gethostname()} since " in message
        assert str(tmp_path / "root" / "s1" / LOCK_FILE) in message
        with StudyLock(str(tmp_path / "root" / "s2")):  # another study on the same root: side by side
            assert os.path.exists(tmp_path / "root" / "s2" / LOCK_FILE)
        with pytest.raises(StudyLocked):  # also within one process: a second lock object
            StudyLock(str(tmp_path / "root" / "s1")).acquire()
    finally:
        proc.terminate()
        proc.wait()


def test_a_lock_left_by_a_killed_driver_is_taken_over(tmp_path, caplog):
    proc = holder(tmp_path / "s")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert os.path.exists(tmp_path / "s" / LOCK_FILE)  # left behind
    with caplog.at_level(logging.WARNING, logger="betasweep"):
        lock = StudyLock(str(tmp_path / "s"))
        lock.acquire()
    assert f"taking over the lock left by pid {proc.pid} on host {socket.gethostname()}" in caplog.text
    assert "no longer running" in caplog.text
    info = json.loads((tmp_path / "s" / LOCK_FILE).read_text())
    assert info["pid"] == os.getpid()
    with pytest.raises(StudyLocked):
        StudyLock(str(tmp_path / "s")).acquire()
    lock.release()
    assert not (tmp_path / "s" / LOCK_FILE).exists()
    assert (tmp_path / "s").is_dir()  # existed before the lock: kept


def test_a_lock_from_another_host_is_refused_with_the_file_to_delete(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere", "since": "then"}))
    with pytest.raises(StudyLocked) as info:
        StudyLock(str(tmp_path / "s")).acquire()
    assert "pid 1 on host elsewhere since then" in str(info.value)
    assert f"if that driver is gone, delete {tmp_path / 's' / LOCK_FILE}" in str(info.value)


def test_release_removes_the_folders_made_for_the_lock(tmp_path):
    with StudyLock(str(tmp_path / "new-root" / "s")):
        assert (tmp_path / "new-root" / "s" / LOCK_FILE).exists()
    assert not (tmp_path / "new-root").exists()
    with StudyLock(str(tmp_path / "kept" / "s")):
        (tmp_path / "kept" / "s" / "config.yaml").write_text("x")
    assert (tmp_path / "kept" / "s" / "config.yaml").exists()


@pytest.mark.integration
def test_second_driver_refused_before_ray_and_two_studies_side_by_side(isolated_env):
    """Real tiny studies: a second `--name` of a running study is refused at once (exit 2, naming the
    holder), while another study on the same root runs to the end beside it."""
    root = isolated_env / "runs"
    env = {**os.environ, "RAY_ADDRESS": "local", "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": REPO}
    common = ["--preset", "quick", "--root", str(root), "--num-trials", "1", "--sampler", "random",
              "--set", "trial.latent_dim=4", "--set", "trial.batch_size=16", "--set", "trial.steps=40",
              "--set", "trial.report_every=20", "--set", "trial.checkpoint_every=20",
              "--set", "trial.kl_warmup_steps=20", "--set", "trial.metrics=recon",
              "--set", "trial.eval_size=64", "--set", "trial.val_size=32",
              "--objectives", "recon_error,recon_mse"]
    first = subprocess.Popen([sys.executable, "-m", "study.run", "--name", "a", *common], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while not (root / "a" / LOCK_FILE).exists():
            assert time.time() < deadline and first.poll() is None
            time.sleep(0.2)
        started = time.time()
        second = subprocess.run([sys.executable, "-m", "study.run", "--name", "a", *common], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert f"study 'a' is already being run by pid {first.pid} on host" in second.stderr
        assert "Traceback" not in second.stderr and time.time() - started < 30
        other = subprocess.run([sys.executable, "-m", "study.run", "--name", "b", *common], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=600)
        assert other.returncode == 0, other.stdout + other.stderr
        out, _ = first.communicate(timeout=600)
        assert first.returncode == 0, out
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert not (root / "a" / LOCK_FILE).exists() and not (root / "b" / LOCK_FILE).exists()
