"""Where a trial's time goes: seconds per phase, accumulated, recorded as ``timing/<phase>_s``.

The phases split a trial slot into training proper (``steps``) and everything around it (setup,
validation, checkpoints, reports to Tune and MLflow, scoring, figures, uploads), so the overhead
of orchestration is measured per trial rather than guessed from wall time
(``benchmarks/study_overhead.py`` prints the breakdown).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from analysis.schema import TIMING_PREFIX


class Timings:
    """Accumulated seconds per named phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the block's wall time to phase ``name`` (also when it raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def metrics(self) -> dict[str, float]:
        """The phases as metrics: ``timing/<phase>_s``."""
        return {f"{TIMING_PREFIX}{name}_s": value for name, value in self.seconds.items()}
