"""The chaos soak's schedule and its gate (a due fault waits for a checkpoint written since the
previous fault was dealt with), and its --cluster mode refusing a root with no such cluster."""

import os

from benchmarks import chaos_soak
from cluster import chaos, netns


def test_the_short_schedule_throws_each_of_its_four_faults_once_in_order():
    faults = chaos.schedule(300, 2, short=True)
    assert [f.kind for f in faults] == [chaos.CHECKPOINT_TEAR, chaos.WORKER_KILL, chaos.DRIVER_KILL, chaos.MLFLOW_KILL]
    assert faults == sorted(faults) and faults[1].target == "w0"
    full = chaos.schedule(480, 2)
    assert {f.kind for f in full} == set(chaos.KINDS) and [f.target for f in full if f.target][:2] == ["w0", "w1"]


def test_a_fault_waits_for_a_checkpoint_written_after_the_previous_one(tmp_path):
    study = tmp_path / "soak"
    assert chaos.newest_checkpoint(str(study)) == 0.0 and chaos.progressed(str(study), 0.0) is False
    first = study / "tune" / "trial_a" / "checkpoint_000000"
    first.mkdir(parents=True)
    os.utime(first, (1000.0, 1000.0))
    later = study / "tune" / "trial_b" / "checkpoint_000003"
    later.mkdir(parents=True)
    os.utime(later, (1010.0, 1010.0))
    assert chaos.newest_checkpoint(str(study)) == 1010.0
    assert chaos.progressed(str(study), 1005.0) and not chaos.progressed(str(study), 1010.0)


def test_the_cluster_mode_refuses_a_root_without_its_cluster(tmp_path, capsys):
    saved = dict(os.environ)  # the soak sets its own Ray and MLflow environment
    try:
        assert chaos_soak.main(["--short", "--cluster", str(tmp_path)]) == 2
    finally:
        os.environ.clear()
        os.environ.update(saved)
    err = capsys.readouterr().err
    assert ("needs network namespaces" in err) if netns.unavailable() else (
        f"no local cluster with --netns --backend postgres --auth recorded in {tmp_path}" in err)
