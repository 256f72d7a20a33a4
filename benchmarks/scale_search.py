"""Optuna suggestion latency at 100 / 1,000 / 10,000 trials, per sampler the study offers.

No Ray and no training: the study's own searcher (:class:`study.search.OptunaStudySearcher`, its
Optuna study in a SQLite file as the driver keeps it) is fed with ``on_trial_complete`` results of
realistic values — (blur, MIG) drawn from :mod:`benchmarks.surrogate`, the model of the measured
seed-dsprites grid, in that preset's search space (model type and a per-type β, define-by-run).
``in_flight`` configurations are always out (asked, not yet told), as in a study with that many
concurrent trials, so TPE's constant liar has running trials to account for.

History: NSGA-II's and random's studies are filled by the sampler itself (NSGA-II's generations
exist only if it made them). TPE's is filled by the random sampler: TPE at 10,000 trials would
take hours to fill itself, and what its suggestion costs depends on how many trials the study
holds, not on who chose them. At each level the filled study is copied and the sampler under test
makes ``repeats`` suggestions (one ``searcher.suggest`` each: ask, define-by-run suggest, user
attributes — what the driver waits for), each followed by telling the oldest configuration out.

Each (level, sampler) runs in a fresh process, so its peak RSS is that of a driver holding the
searcher at that size.
"""

from __future__ import annotations

import os
import resource
import shutil
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

import numpy as np

from analysis.schema import FINAL_REPORT_KEY, Tag, TrialStatus

STUDY = "scale"


def space():
    """The seed-dsprites preset as a search over its model types and a per-type β."""
    from benchmarks.search_efficiency import study_config

    return study_config("search").space


def searcher(db: str, sampler: str, search: dict | None = None):
    """The study's searcher on the SQLite file ``db`` (created, or loaded if it exists)."""
    from benchmarks.surrogate import OBJECTIVES
    from study.search import OptunaStudySearcher

    return OptunaStudySearcher(STUDY, f"sqlite:///{db}", OBJECTIVES, space(), sampler=sampler, sampler_seed=0,
                               **(search or {}))


def result(overrides: dict, surrogate, rng: np.random.Generator) -> dict:
    """A trial's final report with scores drawn from the surrogate for its configuration."""
    blur, mig = surrogate.sample(overrides["model_type"], overrides.get("beta"), rng).final
    return {"blur": float(blur), "mig": float(mig), FINAL_REPORT_KEY: 1, Tag.TRIAL_STATUS: TrialStatus.COMPLETED}


@dataclass
class Feeder:
    """Drives a searcher with ``in_flight`` configurations out, telling the oldest as it asks anew."""

    searcher: object
    in_flight: int
    seed: int = 0
    out: deque = field(default_factory=deque)
    asked: int = 0

    def __post_init__(self):
        from benchmarks.surrogate import Surrogate

        self.surrogate = Surrogate.from_csv()
        self.rng = np.random.default_rng(self.seed)

    def ask(self) -> float:
        """One suggestion; returns its latency in seconds."""
        trial_id = f"t{self.asked}-{self.seed}"
        start = time.perf_counter()
        config = self.searcher.suggest(trial_id)
        seconds = time.perf_counter() - start
        self.asked += 1
        self.out.append((trial_id, config["overrides"]))
        return seconds

    def tell_oldest(self) -> None:
        trial_id, overrides = self.out.popleft()
        self.searcher.on_trial_complete(trial_id, result(overrides, self.surrogate, self.rng))

    def step(self) -> float:
        """Keep ``in_flight`` out: ask one, tell the oldest once more than ``in_flight`` are out."""
        seconds = self.ask()
        if len(self.out) > self.in_flight:
            self.tell_oldest()
        return seconds

    def drain(self) -> None:
        while self.out:
            self.tell_oldest()


def fill(folder: str, sampler: str, levels: list[int], in_flight: int) -> dict[int, str]:
    """Fill a study by ``sampler`` to each level of finished trials; a copy of its file per level."""
    db = os.path.join(folder, f"fill-{sampler}.db")
    feeder = Feeder(searcher(db, sampler), in_flight, seed=1)
    snapshots = {}
    for level in sorted(levels):
        while feeder.asked < level:
            feeder.step()
        feeder.drain()
        snapshots[level] = os.path.join(folder, f"fill-{sampler}-{level}.db")
        shutil.copyfile(db, snapshots[level])
        # the drained configurations are finished; the feeder goes on from the same study
    return snapshots


def measure(snapshot: str, sampler: str, repeats: int, in_flight: int, search: dict | None = None) -> dict:
    """Latencies of ``repeats`` suggestions by ``sampler`` on a copy of ``snapshot`` (run in a
    fresh process: the peak RSS is this measurement's own)."""
    db = snapshot.replace(".db", f"-{sampler}-run.db")
    shutil.copyfile(snapshot, db)
    feeder = Feeder(searcher(db, sampler, search), in_flight, seed=2)
    for _ in range(in_flight):
        feeder.ask()
    latencies = [feeder.step() for _ in range(repeats)]
    os.remove(db)
    return {"latencies": latencies, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure_in_child(snapshot: str, sampler: str, repeats: int, in_flight: int, search: dict | None = None) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(measure, snapshot, sampler, repeats, in_flight, search).result()


def percentiles(values: list[float]) -> dict:
    """p50, p99 and max (of few values p99 is close to the max: the row says how many)."""
    arr = np.asarray(values, dtype=float)
    return {"n": len(arr), "p50": float(np.percentile(arr, 50)), "p99": float(np.percentile(arr, 99)),
            "max": float(arr.max())}
