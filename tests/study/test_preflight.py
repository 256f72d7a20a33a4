"""Failures that say why, early: a missing dataset or an unreachable / refusing tracking server is
refused before Ray starts, in one line naming the folder or URI and the fix; failure reasons."""

import http.server
import threading
import time

import pytest

from study.config import ConfigError
from study.outcome import (
    disk_full,
    disk_full_error,
    disk_full_message,
    failure_reason,
    is_deterministic,
    reason_with_attempt,
    resume_hint,
)
from study.preflight import check_tracking
from study.run import main


def test_a_missing_dataset_is_refused_before_ray(isolated_env, capsys, monkeypatch):
    import ray

    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray started"))
    empty = isolated_env / "empty"
    empty.mkdir()
    started = time.time()
    code = main(["--preset", "seed-celeba", "--data-root", str(empty), "--gpus", "0",
                 "--root", str(isolated_env / "runs"), "--name", "celeb"])
    assert code == 2 and time.time() - started < 60
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: data_root: CelebA files not found under '{empty}'; missing {empty}/celeba/")
    assert "pass --data-root to the folder that holds them" in err[0]
    assert not (isolated_env / "runs").exists()  # refused before anything was recorded


def test_an_unreachable_tracking_server_is_waited_for_then_refused(isolated_env, capsys, monkeypatch):
    import ray

    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray started"))
    code = main(["--tracking-uri", "http://127.0.0.1:5999", "--set", "tracking_start_wait=1",
                 "--root", str(isolated_env / "runs"), "--name", "t"])
    captured = capsys.readouterr()
    assert code == 2
    assert ("[betasweep] MLflow at http://127.0.0.1:5999 does not answer; waiting up to 1s for it "
            "(tracking_start_wait)") in captured.out
    assert captured.err.strip() == (
        "error: tracking: MLflow at http://127.0.0.1:5999 did not answer within 1s (tracking_start_wait); start "
        "the server (e.g. python -m cluster.local up) or give the right --tracking-uri / $MLFLOW_TRACKING_URI")
    assert not (isolated_env / "runs").exists()


class _Refuse(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the handler's API
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="mlflow"')
        self.end_headers()
        self.wfile.write(b"You are not authenticated.")

    do_POST = do_GET

    def log_message(self, *args):
        pass


def test_a_refused_login_is_refused_at_once():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(ConfigError) as info:
            check_tracking(uri, wait=30)
    finally:
        server.shutdown()
    assert str(info.value) == (f"tracking: MLflow at {uri} refused the login (HTTP 401); set "
                               f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an account of that server")


def test_tracking_start_wait_is_validated():
    from study.config import make_config

    with pytest.raises(ConfigError, match="tracking_start_wait: must be a number of seconds >= 0"):
        make_config("quick", overrides={"tracking_start_wait": -1})
    assert make_config("quick").tracking_start_wait == 30


def test_failure_reasons_and_what_is_retried():
    missing = FileNotFoundError(2, "No such file or directory", "/data/x.npz")
    assert failure_reason(missing) == "FileNotFoundError: [Errno 2] No such file or directory: '/data/x.npz'"
    assert is_deterministic(missing) and is_deterministic(ValueError("trial.lr: must be > 0"))
    assert not is_deterministic(RuntimeError("CUDA out of memory")) and not is_deterministic(MemoryError())
    assert reason_with_attempt(missing, 1, 2).endswith("(attempt 1 of 3; not retried: deterministic)")
    assert (reason_with_attempt(RuntimeError("boom\nmore"), 2, 2)
            == "RuntimeError: boom (attempt 2 of 3; will be retried)")
    assert reason_with_attempt(RuntimeError("boom"), 3, 2).endswith("(attempt 3 of 3; no retries left)")
    full = OSError(28, "No space left on device", "/r/s/tune/t/checkpoint_000001/state.pt")
    assert disk_full(full) and not is_deterministic(full) and not disk_full(RuntimeError("boom"))
    assert reason_with_attempt(full, 1, 2) == (
        "ENOSPC: OSError: [Errno 28] No space left on device: '/r/s/tune/t/checkpoint_000001/state.pt' "
        "(attempt 1 of 3; not retried: the disk is full; free space, then --resume the study)")
    quoted = RuntimeError("Traceback (most recent call last):\n  File x\n"
                          "sqlite3.OperationalError: database or disk is full\n[SQL: UPDATE trials]")
    assert disk_full_error(quoted) == "sqlite3.OperationalError: database or disk is full"  # Tune quotes the remote one
    assert "python -m study.run --resume s --root /r" in disk_full_message("s", "/r", quoted)
    assert resume_hint("s", "/r") == ("[betasweep] study s interrupted; its state is saved. Continue it with: "
                                      "python -m study.run --resume s --root /r")
