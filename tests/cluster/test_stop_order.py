"""`cluster.local down` stops a cluster's processes in the order `ray stop` does: the raylets
first, then everything else, the GCS last (all at once, the GCS and the autoscaler monitor outlived
SIGTERM's grace and had to be killed)."""

import subprocess
import sys
import time

from cluster import local, processes


def test_raylets_first_the_gcs_last(monkeypatch):
    programs = {1: "python", 2: "gcs_server", 3: "raylet", 4: "raylet", 5: "mlflow", 6: ""}
    monkeypatch.setattr(processes, "program", programs.__getitem__)
    assert local.stop_order([1, 2, 3, 4, 5, 6]) == [[3, 4], [1, 5, 6], [2]]
    assert local.stop_order([1, 5]) == [[1, 5]]  # no empty batch
    assert local.stop_order([]) == []


def test_program_is_the_executable_base_name():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10  # a just-started child's command line can read empty for a moment
        while not processes.program(child.pid) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes.program(child.pid) == sys.executable.rsplit("/", 1)[1]
    finally:
        child.kill()
        child.wait()
    assert processes.program(child.pid) == ""
