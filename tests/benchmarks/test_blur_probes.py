"""benchmarks/blur_probes.py prints one row per probe and set, and its legacy column is the old
definition: a 2-px shift reads ≈ 1.7 px there and ≈ 0 in the new blur."""

import numpy as np
import pytest

from benchmarks import blur_probes
from benchmarks.legacy_blur import legacy_blur_score
from tests.analysis.metrics.probes import probes, shift
from train.data import dsprites


@pytest.mark.slow  # minutes on 2 cores: every probe of the benchmark, scored
def test_rows_cover_every_probe():
    data = dsprites()
    x, other = data.eval_set(16, seed=0)[0], data.eval_set(16, seed=5)[0]
    lines = blur_probes.rows({"dSprites": (x, other)}, np.random.default_rng(0))
    assert len(lines) == 2 + len(list(probes(x, other)))
    assert any("NaN (collapsed)" in line for line in lines if "mean image" in line)


def test_legacy_blur_reads_shifts_as_blur():
    x = dsprites().eval_set(64, seed=0)[0]
    assert 1.3 < legacy_blur_score(shift(x, 0, 2), x) < 2.0
