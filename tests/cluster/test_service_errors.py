"""A local service that dies while starting is reported with its own last error line (and the fix
when it is a known one), not "did not become healthy in 180 s"."""

import pytest

from cluster import local, processes

LOG = """\
[2026-12-06 11:00:00 +0000] [101] [INFO] Starting gunicorn 23.0.0
Traceback (most recent call last):
  File "/venv/lib/python3.12/site-packages/mlflow/server/auth/__init__.py", line 21, in <module>
    from flask_wtf.csrf import CSRFProtect
ModuleNotFoundError: No module named 'flask_wtf'

"""


def test_last_error_line_of_a_traceback(tmp_path):
    log = tmp_path / "mlflow-server.log"
    log.write_text(LOG)
    assert processes.last_error_line(str(log)) == "ModuleNotFoundError: No module named 'flask_wtf'"
    log.write_text("starting\nlistening on 127.0.0.1:5000\n\n")
    assert processes.last_error_line(str(log)) == "listening on 127.0.0.1:5000"
    assert processes.last_error_line(str(tmp_path / "absent.log")) == ""


class _Exited:
    pid, returncode = 12345, 1

    def poll(self):
        return self.returncode


def test_a_server_that_dies_while_starting_is_reported_with_its_error(tmp_path, monkeypatch):
    (tmp_path / "mlflow-server.log").write_text(LOG)
    monkeypatch.setattr(local, "alive_nodes", lambda state: 0)
    state = {"root": str(tmp_path), "workers": 1, "mlflow": "http://127.0.0.1:1", "temp_dir": str(tmp_path)}
    with pytest.raises(RuntimeError) as info:
        local._wait_healthy(state, _Exited(), timeout=30)
    assert str(info.value) == (
        f"MLflow server exited with code 1 while starting: ModuleNotFoundError: No module named 'flask_wtf' "
        f"(log: {tmp_path}/mlflow-server.log); install the auth extra: pip install -e '.[auth]' (MLflow's "
        f"basic-auth app needs Flask-WTF)")
