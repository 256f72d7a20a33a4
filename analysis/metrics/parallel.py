"""Independent fits of one metric at once: DCI's per-factor gradient boosting.

``submit_all(fn, args, n_jobs)`` starts ``fn(*a)`` for every ``a`` in ``args`` and returns the
function that waits and gives the results in order. With ``n_jobs`` <= 1 (or one task) the calls run
inline, one after another, when that function is called. Otherwise they go to ``n_jobs`` worker
processes (joblib's reusable loky executor, which scikit-learn ships: the workers are started once
per process and kept for later calls, and are safe to start from a Ray actor's threads). The
results do not depend on ``n_jobs``: every fit is seeded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor


def submit_all(fn: Callable, args: Sequence[tuple], n_jobs: int = 1) -> Callable[[], list]:
    """Start ``fn(*a)`` for each ``a`` (``n_jobs`` at once); returns the function that waits."""
    if n_jobs <= 1 or len(args) <= 1:
        return lambda: [fn(*a) for a in args]
    if os.environ.get("BETASWEEP_PARALLEL", "processes") == "threads":
        pool = ThreadPoolExecutor(min(n_jobs, len(args)))
        futures = [pool.submit(fn, *a) for a in args]
        pool.shutdown(wait=False)
    else:
        from joblib.externals.loky import get_reusable_executor

        futures = [get_reusable_executor(max_workers=n_jobs).submit(fn, *a) for a in args]
    return lambda: [f.result() for f in futures]
