"""The overhead benchmark's bookkeeping on a made-up study whose answer is known by hand."""

import pandas as pd
import pytest

from benchmarks import study_overhead as so


def test_a_slot_waits_from_the_last_completion_before_it_or_from_the_tuners_start():
    lives = {"fit_start": 100.0, "a": {"start": 102.0, "complete": 110.0}, "b": {"start": 103.0, "complete": 120.0},
             "c": {"start": 110.5, "complete": 130.0}, "d": {"start": 121.0, "complete": 135.0}}
    assert [so.waiting(lives, t) for t in "abcd"] == pytest.approx([2.0, 3.0, 0.5, 1.0])


def test_orchestration_is_every_phase_but_training_scoring_and_validation_plus_tune_and_waiting():
    phases = {"steps": [10.0, 10.0], "scoring": [3.0, 3.0], "validation": [1.0, 1.0], "setup": [2.0, 0.0],
              "checkpoints": [0.0, 0.0], "reports": [0.1, 0.1], "artifacts": [0.2, 0.2],
              "tracking_start": [1.0, 0.0], "final_logging": [0.0, 0.0]}
    df = pd.DataFrame({f"timing/{p}_s": v for p, v in phases.items()})
    df["tune_life"] = [sum(v[0] for v in phases.values()) + 1.5, sum(v[1] for v in phases.values()) + 0.1]
    df["gap"] = [2.0, 0.05]
    df["first_on_actor"] = [True, False]
    rows = so.table(df)
    last = rows[-1].split("|")[2:5]
    # first: 2 + 0.1 + 0.2 + 1 (phases) + 1.5 (in Tune) + 2 (idle) = 6.8; later: 0.3 + 0.1 + 0.05 = 0.45;
    # printed to 2 decimals
    assert [float(c.strip(" *")) for c in last] == pytest.approx([(6.8 + 0.45) / 2, 6.8, 0.45], abs=0.005)
