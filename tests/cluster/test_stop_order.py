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


def test_a_server_includes_the_children_that_left_its_process_group():
    """PostgreSQL's postmaster puts each child in a session of its own: its process group is the
    postmaster alone, so `down` finds the children by parent PID and leaves them to the
    postmaster's own fast shutdown (SIGTERM is ignored by the checkpointer, and a SIGKILLed child
    sends PostgreSQL into crash recovery)."""
    forks = ("import os, subprocess, sys, time\n"
             "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'], start_new_session=True)"
             " for _ in range(2)]\n"
             "print(' '.join(str(k.pid) for k in kids), flush=True)\ntime.sleep(30)\n")
    server = subprocess.Popen([sys.executable, "-c", forks], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        kids = [int(p) for p in server.stdout.readline().split()]
        assert sorted(processes.server_of(server.pid)) == sorted([server.pid, *kids])
        assert processes.group_of(server.pid) == [server.pid]
        processes.stop(processes.server_of(server.pid), grace=5)
        assert all(processes.gone(p) for p in kids)
    finally:
        server.kill()
        server.wait()
    assert processes.server_of(server.pid) == []
