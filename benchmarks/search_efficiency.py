"""Which sampler, at which budget? Searches replayed against a surrogate of the seed-dsprites grid.

Usage:
    python benchmarks/search_efficiency.py --reps 100  # benchmarks/notes/2026-11-27-search-efficiency.md
    python benchmarks/search_efficiency.py --reps 2 --budget 12  # a quick look

Real trials are too slow here to repeat a search twenty times, so each search runs against
:mod:`benchmarks.surrogate` (the grid's 30 real trials and their learning curves; assumptions in
its docstring), in the study's own space: the seed-dsprites preset in search mode, model_type
categorical and a per-type β (``beta_vae.beta``, ``beta_tcvae.beta``, log-uniform [1, 16]) asked
define-by-run by :func:`study.space.suggest`. Samplers mirror :func:`study.search.make_sampler`;
four trials are in flight (ask four, tell each as it finishes, in the order of the borrowed
training times), so the constant liar has running trials to lie about. Methods:

* ``grid``: the preset's grid in the order a grid runner (this study's, and disentanglement_lib's
  ``h.product(models, seeds)``) runs it — configuration by configuration, seeds 0-2 each;
* ``random``, ``nsga2`` (population 50, as the study builds it), ``tpe`` (multivariate, grouped,
  4 start-up trials, constant_liar on as ``search.constant_liar`` sets it), ``tpe-no-liar``;
* ``oracle``: the grid configurations whose noiseless means are Pareto-optimal, in turn — the
  bound on any search over this surrogate (what remains is seed luck);
* ``mo-asha``: the best sampler by mean hypervolume, with successive halving: by default a rung at
  500 of 900 steps and η = 2 (the study's asha_grace_steps and asha_reduction_factor), and rungs
  at 300 and 600 steps with η = 3 (``--asha 500:2 300,600:3``); a trial reaching a rung goes on
  if it is in the top 1/η by :func:`analysis.pareto.promotion_order` among all that reached it so
  far (asynchronous, as Ray's ASHA), else it is told PRUNED. Cost is in full-trial equivalents: a
  full trial (training + its final ``fast`` scoring, 6.9 s) is 1; a rung adds a scoring (both
  objectives are needed there), a stopped trial costs its share.

Replay r of every method uses sampler seed r and surrogate draws from one generator seeded r
(common random numbers): methods differ by their choices only. NSGA-II's first generation (50
trials) is its RandomSampler with the same seed, so its row equals random's.

Hypervolume uses one reference point throughout: the worst blur and MIG of the grid's 29
non-collapsed real trials pushed out by 10% of their range. Two tables: the trials' own scores
against "the grid's hypervolume" = that of the 30 real trials in ``seed-dsprites.csv`` as measured;
and the noiseless means of the configurations tried against the grid's noiseless means (did the
search find the right configurations, seed luck aside?).
"""

from __future__ import annotations

import argparse
import heapq
import sys
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.pareto import default_reference, hypervolume, non_dominated_mask, promotion_order  # noqa: E402
from benchmarks.surrogate import BUDGET_STEPS, NAMES, OBJECTIVES, Surrogate  # noqa: E402
from study.config import make_config  # noqa: E402
from study.space import suggest  # noqa: E402

SENSES = [OBJECTIVES[n] for n in NAMES]
SAMPLERS = ("random", "nsga2", "tpe-no-liar", "tpe")
#: Seconds of one ``fast`` scoring (benchmarks/notes/2026-11-24-metrics.md): what a rung adds to a trial's cost.
SCORE_SECONDS = 6.9


#: ``TPESampler`` arguments to try instead of the study's (``--tpe-option NAME=VALUE``); empty = the study's.
TPE_OPTIONS: dict[str, float] = {}


def make_sampler(name: str, seed: int):
    """The study's own samplers (:func:`study.search.make_sampler`), and TPE without the liar; with
    :data:`TPE_OPTIONS`, the study's TPE with those arguments changed."""
    from study.search import make_sampler as study_sampler

    sampler = study_sampler("tpe" if name == "tpe-no-liar" else name, seed, constant_liar=name != "tpe-no-liar")
    if name.startswith("tpe") and TPE_OPTIONS:
        kept = {k: getattr(sampler, f"_{k}") for k in ("multivariate", "group", "n_startup_trials", "constant_liar")}
        sampler = optuna.samplers.TPESampler(seed=seed, **{**kept, **TPE_OPTIONS})
    return sampler


def study_config(mode: str):
    """The seed-dsprites preset: as it is (``grid``) or as a search over its model types (``search``)."""
    if mode == "grid":
        return make_config(preset="seed-dsprites")
    space = {"mode": "search", "model_types": ["ae", "vae", "beta_vae", "beta_tcvae"], "grid": [],
             "ranges": {"beta_vae": {"beta": [1, 16]}, "beta_tcvae": {"beta": [1, 16]}}, "seeds_per_config": 1}
    return make_config(preset="seed-dsprites", overrides={"space": space})


class OptunaSource:
    """Configurations from an Optuna sampler through the study's define-by-run space."""

    def __init__(self, sampler):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space = study_config("search").space
        self.study = optuna.create_study(directions=["minimize" if s == "min" else "maximize" for s in SENSES],
                                         sampler=sampler)

    def ask(self):
        trial = self.study.ask()
        return trial, suggest(trial, self.space)

    def tell(self, trial, values) -> None:
        if values is None:
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, values=[float(v) for v in values])


class GridSource:
    """The grid in a grid runner's order: each configuration, its seeds one after the other."""

    def __init__(self):
        config = study_config("grid")
        self.entries = [({**entry, "seed": seed}) for entry in config.space.configurations()
                        for seed in range(config.space.seeds_per_config)]
        self.next = 0

    def ask(self):
        if self.next >= len(self.entries):
            return None, None
        self.next += 1
        return self.next - 1, dict(self.entries[self.next - 1])

    def tell(self, handle, values) -> None:
        """A grid learns nothing from results."""


class OracleSource:
    """A searcher that knows the answer: it only ever asks the grid configurations whose noiseless
    means are Pareto-optimal, in turn, with fresh seeds. No sampler can beat it on this surrogate
    (whose extremes sit at the grid's β), so its row bounds what any search could reach: what is
    left to it is seed luck."""

    def __init__(self, surrogate: Surrogate):
        entries = study_config("grid").space.configurations()
        means = np.array([surrogate.mean(e["model_type"], e.get("beta")) for e in entries])
        self.front = [entries[i] for i in np.flatnonzero(non_dominated_mask(means, SENSES))]
        self.next = 0

    def ask(self):
        self.next += 1
        return self.next - 1, dict(self.front[(self.next - 1) % len(self.front)])

    def tell(self, handle, values) -> None:
        """The oracle needs no results."""


def promoted(recorded: list, values: np.ndarray, eta: int) -> bool:
    """Asynchronous MO-ASHA's decision: is ``values`` in the top 1/η of the rung so far?"""
    points = np.vstack([*recorded, values])
    position = int(np.flatnonzero(promotion_order(points, SENSES) == len(points) - 1)[0])
    return position < max(1, int(np.ceil(len(points) / eta)))


def replay(source, surrogate: Surrogate, rng: np.random.Generator, reference, budget: float,
           concurrent: int = 4, rungs=(), eta: int = 2):
    """Run one search until ``budget`` full-trial equivalents have ended.

    Returns (costs, hvs, true_hvs) after each ended trial: cost cumulative in full-trial
    equivalents; hypervolume of the trials that ran to the full budget, of their scores and of
    their configurations' noiseless means (did the search find the right configurations?).
    """
    fractions, events, seq = [*rungs, 1.0], [], 0
    score = SCORE_SECONDS / (surrogate.scores["train_seconds"].mean() + SCORE_SECONDS)
    recorded = [[] for _ in rungs]
    points, truths, costs, hvs, spent, started, clock = [], [], [], [], 0.0, 0, 0.0
    while spent < budget - 1e-9:
        while len(events) < concurrent and (rungs or started < budget):
            handle, params = source.ask()
            if params is None:
                break
            trial = surrogate.sample(params["model_type"], params.get("beta"), rng)
            heapq.heappush(events, (clock + trial.seconds * fractions[0], seq, handle, trial, 0))
            seq, started = seq + 1, started + 1
        if not events:
            break
        clock, _, handle, trial, k = heapq.heappop(events)
        if k < len(rungs):
            values = trial.at(rungs[k], rng)
            keep = promoted(recorded[k], values, eta)
            recorded[k].append(values)
            if keep:
                heapq.heappush(events, (clock + trial.seconds * (fractions[k + 1] - fractions[k]), seq,
                                        handle, trial, k + 1))
                seq += 1
                continue
            source.tell(handle, None)
        else:
            points.append(trial.final)
            truths.append(trial.truth)
            source.tell(handle, trial.final)
        spent += fractions[k] * (1 - score) + (k + 1) * score
        costs.append(spent)
        hvs.append([hypervolume(np.array(p), reference, SENSES) if p else 0.0 for p in (points, truths)])
    hvs = np.array(hvs).reshape(-1, 2)
    return np.array(costs), hvs[:, 0], hvs[:, 1]


def real_grid(surrogate: Surrogate) -> np.ndarray:
    """The grid's real (blur, MIG) in the grid runner's order, from the CSV."""
    rows = surrogate.scores.set_index(["model_type", "beta", "seed"])
    order = [(e["model_type"], float(e.get("beta", 1.0)), e["seed"]) for e in GridSource().entries]
    return rows.loc[order, list(NAMES)].to_numpy(float)


def reference_point(surrogate: Surrogate) -> np.ndarray:
    """Worst blur and MIG of the grid's non-collapsed real trials, pushed out by 10% of the range."""
    healthy = surrogate.scores[~surrogate.scores["collapsed"]]
    return default_reference(healthy[list(NAMES)].to_numpy(float), SENSES, margin=0.1)


def run_method(method: str, surrogate: Surrogate, reference, reps: int, budget: float,
               concurrent: int = 4, rungs=(), eta: int = 2) -> list:
    """``reps`` replays of ``method`` (a sampler name, ``grid`` or ``oracle``): a list of (costs, hvs,
    true_hvs)."""
    runs = []
    for rep in range(reps):
        if method in SOURCES:
            source = SOURCES[method](surrogate)
        else:
            source = OptunaSource(make_sampler(method, seed=rep))
        rng = np.random.default_rng(rep)  # common random numbers: methods differ only by their choices
        runs.append(replay(source, surrogate, rng, reference, budget, concurrent, rungs, eta))
    return runs


#: The methods that are not Optuna samplers.
SOURCES = {"grid": lambda surrogate: GridSource(), "oracle": OracleSource}


def hv_at(run, cost: float) -> float:
    """Hypervolume once ``cost`` full-trial equivalents have ended (0 before the first)."""
    costs, hvs = run[:2]
    done = np.flatnonzero(costs <= cost + 1e-9)
    return float(hvs[done[-1]]) if done.size else 0.0


def cost_to(run, level: float) -> float:
    """Cost at which the hypervolume first reaches ``level`` (inf if it never does)."""
    costs, hvs = run[:2]
    hit = np.flatnonzero(hvs >= level - 1e-12)
    return float(costs[hit[0]]) if hit.size else np.inf


def row(name: str, runs: list, target: float, columns, budget: float) -> str:
    """One Markdown row: % of the grid's HV at each column (mean [5%, 95%]), then the median cost
    to reach 90% and 100% of it with the share of replays that got there."""
    cells = []
    for c in columns:
        values = 100 * np.array([hv_at(r, c) for r in runs]) / target
        cells.append(f"{values.mean():.0f} [{np.percentile(values, 5):.0f}, {np.percentile(values, 95):.0f}]")
    for share in (0.9, 1.0):
        needed = np.array([cost_to(r, share * target) for r in runs])
        median = np.median(needed)
        text = f"{median:.1f}" if np.isfinite(median) else f"> {budget:g}"
        cells.append(f"{text} ({np.isfinite(needed).sum()}/{len(runs)})")
    return f"| {name} | " + " | ".join(cells) + " |"


def area(runs: list, budget: float) -> float:
    """Mean hypervolume over costs 1..budget: one number to rank samplers by."""
    return float(np.mean([hv_at(r, c) for r in runs for c in range(1, int(budget) + 1)]))


def parse_asha(spec: str) -> tuple[tuple[float, ...], int]:
    """``"500:2"`` → rungs at 500/900 of the budget, η = 2; ``"300,600:3"`` → two rungs, η = 3."""
    steps, eta = spec.split(":")
    return tuple(int(s) / BUDGET_STEPS for s in steps.split(",")), int(eta)


def report(surrogate: Surrogate, args) -> str:
    """Run every method and return the Markdown table with the notes that define it."""
    reference = reference_point(surrogate)
    grid_points = real_grid(surrogate)
    target = hypervolume(grid_points, reference, SENSES)
    real = [(np.arange(1.0, len(grid_points) + 1),
             np.array([hypervolume(grid_points[: k + 1], reference, SENSES) for k in range(len(grid_points))]))]
    results = {m: run_method(m, surrogate, reference, args.reps, args.budget, args.concurrent)
               for m in ("grid", *args.samplers, "oracle")}
    best = max(args.samplers, key=lambda m: area(results[m], args.budget))
    for spec in args.asha:
        rungs, eta = parse_asha(spec)
        results[f"mo-asha {spec.replace(':', ' η')} ({best})"] = run_method(
            best, surrogate, reference, args.reps, args.budget, args.concurrent, rungs, eta)
    head = ["| method | " + " | ".join(f"{c:g} trials" for c in args.columns) + " | to 90% | to 100% |",
            "|---|" + "---|" * (len(args.columns) + 2)]
    scores = [row(m, runs, target, args.columns, args.budget) for m, runs in results.items()]
    means = np.array([surrogate.mean(e["model_type"], e.get("beta")) for e in GridSource().entries])
    noiseless = hypervolume(means, reference, SENSES)
    truths = [row(m, [(r[0], r[2]) for r in runs], noiseless, args.columns, args.budget)
              for m, runs in results.items()]
    return "\n".join(["Trials' scores, against the real grid's HV:", "", *head,
                      row("grid, real trials (CSV)", real, target, args.columns, args.budget), *scores, "",
                      "Noiseless means of the configurations tried, against the grid's noiseless HV:", "",
                      *head, *truths, "", notes(surrogate, reference, target, noiseless, results, args)])


def notes(surrogate: Surrogate, reference, target: float, noiseless: float, results: dict, args) -> str:
    """What the tables' numbers are relative to, and which sampler reaches each grid HV first."""
    ideal = hypervolume(surrogate.ideal()[None], reference, SENSES)
    goal = len(GridSource().entries) / 3
    lines = [f"cells: % of the grid's hypervolume, mean [5%, 95%] over {args.reps} replays; to 90% / to 100%: "
             f"median trials to reach that share of it (replays that did, of all); MO-ASHA's trials are "
             f"full-trial equivalents",
             f"reference point (blur, MIG) = ({reference[0]:.3f}, {reference[1]:.4f}); grid HV (30 real trials) "
             f"= {target:.4f}; grid of noiseless surrogate means = {noiseless:.4f} ({100 * noiseless / target:.0f}%);"
             f" surrogate ideal point = {ideal:.4f} ({100 * ideal / target:.0f}%)",
             f"{args.concurrent} trials in flight, budget {args.budget:g} full-trial equivalents per replay"]
    for label, level, column in (("the real grid's HV", target, 1), ("the grid's noiseless HV", noiseless, 2)):
        needed = {m: np.median([cost_to((r[0], r[column]), level) for r in results[m]]) for m in args.samplers}
        first = min(args.samplers, key=lambda m: (needed[m], -area(results[m], args.budget)))
        verdict = "met" if needed[first] <= goal else "not met"
        oracle = np.median([cost_to((r[0], r[column]), level) for r in results["oracle"]])
        lines.append(f"sampler reaching {label} soonest: {first}, median {needed[first]:.1f} trials (inf: beyond "
                     f"the budget); goal <= {goal:g} (1/3 of the grid): {verdict}; the oracle (front "
                     f"configurations only): median {oracle:.1f}")
    return "\n".join(f"* {line}" for line in lines)


def parse_option(option: str) -> tuple[str, bool | int | float]:
    """``NAME=VALUE`` → (name, value as a bool, int or float)."""
    name, _, value = option.partition("=")
    if value.lower() in ("true", "false"):
        return name, value.lower() == "true"
    return name, float(value) if any(c in value for c in ".e") else int(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="Replays per method (sampler seeds 0..reps-1).")
    parser.add_argument("--budget", type=float, default=60, help="Full-trial equivalents per replay.")
    parser.add_argument("--concurrent", type=int, default=4, help="Trials in flight.")
    parser.add_argument("--columns", type=float, nargs="+", default=[5, 10, 15, 20, 30, 40])
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--asha", nargs="*", default=["500:2", "300,600:3"],
                        help="MO-ASHA settings on the best sampler, each 'rung steps:eta'.")
    parser.add_argument("--tpe-option", action="append", default=[], metavar="NAME=VALUE",
                        help="A TPESampler argument to change from the study's (e.g. prior_weight=0.5).")
    args = parser.parse_args()
    TPE_OPTIONS.update(dict(parse_option(o) for o in args.tpe_option))
    start = time.perf_counter()
    print(report(Surrogate.from_csv(), args))
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
