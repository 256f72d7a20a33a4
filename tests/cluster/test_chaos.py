"""The chaos soak's schedule and its gate: a due fault waits for a checkpoint written since the
previous fault was dealt with, so that it hits running trials whatever the machine's speed."""

import os

from cluster import chaos


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
