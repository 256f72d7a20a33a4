"""MO-ASHA: the pure promotion rule against a brute-force oracle, the scheduler driven directly
(fake trials, as Ray's own scheduler tests do) against Ray's single-objective ASHA, its state
across a restore, and one real local Tune run."""

import math
import pickle
from types import SimpleNamespace
from unittest.mock import MagicMock

import numpy as np
import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from study.schedulers import STATE_FILE, MultiObjectiveASHA, promote_at_rung, rung_levels

SENSES = {"recon": "min", "kl": "min"}


def oracle(new, rung, senses, eta):
    """The rule by brute force: pairwise dominance peeled into ranks, crowding by loops, then the
    newcomer's place in the order (rank, −crowding, arrival; the newcomer counts as first)."""
    signs = [1.0 if s == "min" else -1.0 for s in senses]
    pts = [[v * s for v, s in zip(p, signs, strict=True)] for p in [new, *rung]]
    n, m = len(pts), len(senses)

    def dominates(a, b):
        return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))

    rank, remaining, r = {}, set(range(n)), 0
    while remaining:
        front = {i for i in remaining if not any(dominates(pts[j], pts[i]) for j in remaining if j != i)}
        rank.update(dict.fromkeys(front, r))
        remaining, r = remaining - front, r + 1
    crowd = dict.fromkeys(range(n), 0.0)
    for r in set(rank.values()):
        members = [i for i in range(n) if rank[i] == r]
        for j in range(m):
            ordered = sorted(members, key=lambda i, j=j: pts[i][j])
            span = pts[ordered[-1]][j] - pts[ordered[0]][j]
            crowd[ordered[0]] = crowd[ordered[-1]] = math.inf
            for k in range(1, len(ordered) - 1):
                crowd[ordered[k]] += (pts[ordered[k + 1]][j] - pts[ordered[k - 1]][j]) / span
    order = sorted(range(n), key=lambda i: (rank[i], -crowd[i], i))
    return order.index(0) < math.ceil(n / eta)


def test_rung_levels():
    assert rung_levels(1, 3, 27) == [1, 3, 9]
    assert rung_levels(20, 2, 80) == [20, 40]
    assert rung_levels(500, 2, 5000) == [500, 1000, 2000, 4000]
    assert rung_levels(100, 3, 100) == []
    for bad in [(1, 1, 10), (1, 2.5, 10), (0, 2, 10)]:
        with pytest.raises(ValueError):
            rung_levels(*bad)


@pytest.mark.parametrize("eta, expected", [(3, [1, 1, 0, 1, 0, 1, 1, 0, 0]), (2, [1, 1, 1, 1, 0, 1, 1, 0, 1])])
def test_arrivals_in_a_known_order(eta, expected):
    # A dominance chain (x, x): each newcomer's rank is its place among the values seen so far,
    # and it continues iff fewer than ceil(n/eta) of the n points seen are better.
    values = [5, 3, 4, 1, 6, 2, 0, 7, 3.5]
    decisions = [promote_at_rung((v, v), [(u, u) for u in values[:i]], ["min", "min"], eta)
                 for i, v in enumerate(values)]
    assert decisions == [bool(e) for e in expected]


@pytest.mark.parametrize("eta", [2, 3, 4])
def test_a_full_rung_keeps_ceil_n_over_eta(eta):
    # Whichever point of a rung arrives last, it continues iff it is in the top ceil(n/eta).
    rng = np.random.default_rng(eta)
    for n in range(1, 20):
        x = rng.permutation(n).astype(float)
        pts = np.c_[x, -x]  # min x, max -x: a chain, no ties
        kept = sum(promote_at_rung(pts[i], np.delete(pts, i, axis=0), ["min", "max"], eta) for i in range(n))
        assert kept == math.ceil(n / eta)


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("eta", [2, 3, 4])
def test_rule_matches_the_brute_force_oracle(m, eta):
    rng = np.random.default_rng(10 * m + eta)
    senses = ["min", "max", "min"][:m]
    arrivals = rng.normal(size=(40, m))
    decisions = [promote_at_rung(p, arrivals[:i], senses, eta) for i, p in enumerate(arrivals)]
    assert decisions == [oracle(list(p), arrivals[:i].tolist(), senses, eta) for i, p in enumerate(arrivals)]
    assert 0 < sum(decisions) < len(arrivals)


def test_missing_values_are_worse_than_any_finite_value():
    # An exact tie goes to the newcomer; a NaN is worse than the worst finite value.
    assert promote_at_rung((10.0, 3.0), [(10.0, 3.0)], ["min", "min"], 2)
    assert not promote_at_rung((math.nan, 3.0), [(10.0, 3.0)], ["min", "min"], 2)
    assert not promote_at_rung((math.inf, math.nan), [(1.0, 5.0), (5.0, 1.0)], ["min", "max"], 3)
    assert promote_at_rung((50.0, 50.0), [(math.nan, math.nan)] * 4, ["min", "min"], 3)


# --- the scheduler, driven directly -----------------------------------------------------------------

#: Final (recon, kl) of each trial; curves approach them as 3/step and 2/step. lo, mid and hi are
#: the true front; hi (high beta) has the worst reconstruction of all. d1..d6 are dominated by
#: mid but reconstruct better than hi, so single-objective ASHA on recon prefers them to hi.
FINAL = {"lo": (1.0, 8.0), "mid": (2.0, 4.0), "hi": (4.0, 1.0), "d1": (2.5, 5.0), "d2": (2.6, 5.2),
         "d3": (2.7, 5.4), "d4": (2.8, 5.6), "d5": (2.9, 5.8), "d6": (3.0, 6.0)}


def curve(name, step):
    recon, kl = FINAL[name]
    return {"step": step, "recon": recon + 3.0 / step, "kl": kl + 2.0 / step}


def fake_trials(names, storage=None):
    trials = {n: Trial("__fake", trial_id=n, stub=True) for n in names}
    for t in trials.values():
        t.storage = storage
    return trials


def run_lockstep(sched, order, max_t=27, storage=None):
    """Every live trial reports each step, in ``order``; returns the last step each one reached."""
    controller = MagicMock()
    trials = fake_trials(order, storage)
    for t in trials.values():
        sched.on_trial_add(controller, t)
    last, live = {}, list(order)
    for step in range(1, max_t + 1):
        for name in list(live):
            last[name] = step
            result = curve(name, step)
            if sched.on_trial_result(controller, trials[name], result) == TrialScheduler.STOP or step == max_t:
                sched.on_trial_complete(controller, trials[name], result)
                live.remove(name)
    return last


@pytest.mark.parametrize("order, mo_kept, asha_kept, asha_stops", [
    # Front first: MO-ASHA keeps exactly the front; ASHA only the best reconstruction.
    (["lo", "mid", "hi", "d1", "d2", "d3", "d4", "d5", "d6"], {"lo", "mid", "hi"}, {"lo"}, {"mid": 1, "hi": 1}),
    # d1 arrives first at every rung, and ASHA's first arrival always continues (in both).
    (["d1", "d2", "d3", "lo", "mid", "hi", "d4", "d5", "d6"], {"d1", "lo", "mid", "hi"}, {"d1", "lo"},
     {"mid": 3, "hi": 1}),
])
def test_mo_asha_keeps_the_high_beta_end_that_asha_stops(order, mo_kept, asha_kept, asha_stops):
    mo = run_lockstep(MultiObjectiveASHA(SENSES, max_t=27, grace_period=1, reduction_factor=3), order)
    asha = run_lockstep(ASHAScheduler(time_attr="step", metric="recon", mode="min", max_t=27, grace_period=1,
                                      reduction_factor=3), order)
    assert {n for n, s in mo.items() if s == 27} == mo_kept
    assert all(mo[n] == 1 for n in FINAL if n not in mo_kept)  # the rest stop at the first rung
    assert {n for n, s in asha.items() if s == 27} == asha_kept
    assert {n: asha[n] for n in asha_stops} == asha_stops


def test_rungs_missing_values_time_and_max_t():
    sched = MultiObjectiveASHA(SENSES, max_t=27, grace_period=1, reduction_factor=2)
    ctl, trials = MagicMock(), fake_trials(["a", "b", "c", "d"])
    for t in trials.values():
        sched.on_trial_add(ctl, t)
    act = sched.on_trial_result
    assert act(ctl, trials["a"], {"step": 1, "recon": 1.0, "kl": 1.0}) == TrialScheduler.CONTINUE
    assert act(ctl, trials["b"], {"step": 1, "recon": 1.0}) == TrialScheduler.STOP  # kl missing: worst
    assert act(ctl, trials["c"], {"recon": 0.0, "kl": 0.0}) == TrialScheduler.CONTINUE  # no step: ignored
    assert act(ctl, trials["c"], {"step": 10, "recon": 0.5, "kl": 0.5}) == TrialScheduler.CONTINUE
    assert list(sched._rungs[3]) == ["c"] and "c" not in sched._rungs[0]  # judged at rung 8 only
    assert act(ctl, trials["c"], {"step": 12, "recon": 9.0, "kl": 9.0}) == TrialScheduler.CONTINUE  # no new rung
    assert act(ctl, trials["c"], {"step": 27, "recon": 9.0, "kl": 9.0}) == TrialScheduler.CONTINUE  # max_t
    last = MultiObjectiveASHA(SENSES, max_t=27, grace_period=1, reduction_factor=2, stop_last_trials=True)
    assert last.on_trial_result(ctl, trials["d"], {"step": 27, "recon": 1.0, "kl": 1.0}) == TrialScheduler.STOP
    assert "num_stopped=1" in sched.debug_string() and "step 1: 2 arrived, 1 continued" in sched.debug_string()


def test_objectives_from_tune_config_and_fifo_choice():
    assert not MultiObjectiveASHA(SENSES, max_t=9, grace_period=1).set_search_properties("recon", "min")
    assert MultiObjectiveASHA(SENSES, max_t=9, grace_period=1).set_search_properties(None, None)
    sched = MultiObjectiveASHA(max_t=9, grace_period=1)
    with pytest.raises(ValueError, match="no objectives"):
        sched.on_trial_add(MagicMock(), fake_trials(["a"])["a"])
    assert sched.set_search_properties(["recon", "kl"], ["min", "max"])
    assert sched._objectives == {"recon": "min", "kl": "max"}
    with pytest.raises(ValueError, match="'min' or 'max'"):
        MultiObjectiveASHA({"recon": "lower"}, max_t=9, grace_period=1)
    done, first, second = fake_trials(["done", "first", "second"]).values()
    done.status = Trial.TERMINATED
    controller = MagicMock()
    controller.get_trials.return_value = [done, first, second]
    assert sched.choose_trial_to_run(controller) is first


def test_state_survives_a_restore(tmp_path):
    # Tune pickles the fresh scheduler into tuner.pkl and restores that copy; the rungs come back
    # from the state file in the driver staging directory, which Tune syncs with the experiment.
    make = lambda: MultiObjectiveASHA(SENSES, max_t=27, grace_period=1, reduction_factor=3)  # noqa: E731
    pickled_fresh = pickle.dumps(make())
    storage = SimpleNamespace(experiment_driver_staging_path=str(tmp_path / "staging"))
    first = make()
    run_lockstep(first, ["lo", "mid", "hi", "d1", "d2"], max_t=3, storage=storage)
    assert (tmp_path / "staging" / STATE_FILE).exists()

    restored, ctl = pickle.loads(pickled_fresh), MagicMock()
    trials = fake_trials(["lo", "d1", "new"], storage)
    for t in trials.values():
        restored.on_trial_add(ctl, t)
    assert restored.debug_string() == first.debug_string()
    assert restored.on_trial_result(ctl, trials["d1"], curve("d1", 3)) == TrialScheduler.STOP  # stopped before
    assert restored.on_trial_result(ctl, trials["lo"], curve("lo", 3)) == TrialScheduler.CONTINUE  # passed rung 3
    assert restored.on_trial_result(ctl, trials["new"], curve("d2", 1)) == TrialScheduler.STOP

    copy = make()
    copy.save(str(tmp_path / "manual.pkl"))
    restored.restore(str(tmp_path / "manual.pkl"))
    assert "num_stopped=0" in restored.debug_string()


# --- a real local Tune run ----------------------------------------------------------------------------

#: (recon, kl), approached as 1/step: lo and hi (high beta) are the front, each d is worse than lo
#: in both objectives. The grid runs them in this order, two at a time.
REAL = {"lo": (1.0, 6.0), "hi": (4.0, 1.0), "d1": (2.0, 7.0), "d2": (2.5, 8.0), "d3": (3.0, 9.0), "d4": (3.5, 9.5)}


def synthetic_trainable(config):
    from ray import tune

    recon, kl = REAL[config["name"]]
    for step in range(1, 10):
        tune.report({"step": step, "recon": recon + 1.0 / step, "kl": kl + 1.0 / step, "final": 0})
    tune.report({"step": 9, "final": 1})  # what betasweep's trainable does after its last step: evaluate


@pytest.fixture
def local_ray(isolated_env):
    import sys

    import ray
    from ray import cloudpickle

    # The workers run in the test's temporary folder, where the `tests` package does not import:
    # ship this module's trainable by value rather than by reference.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield isolated_env
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


@pytest.mark.integration
def test_real_tune_run_stops_the_dominated_trials_early(local_ray):
    from ray import tune

    sched = MultiObjectiveASHA(SENSES, max_t=9, grace_period=1, reduction_factor=3)
    tuner = tune.Tuner(
        synthetic_trainable, param_space={"name": tune.grid_search(list(REAL))},
        tune_config=tune.TuneConfig(scheduler=sched, max_concurrent_trials=2, reuse_actors=True),
        run_config=tune.RunConfig(name="mo", storage_path=str(local_ray / "results"), verbose=0),
    )
    results = {r.config["name"]: r.metrics for r in tuner.fit()}
    # lo and hi arrive first at every rung (the d's start only when one of them ends): both are
    # non-dominated, so both continue, and run past max_t to their final report; every d arrives
    # behind them, is dominated, and stops at the first rung.
    assert {n: (m["step"], m["final"]) for n, m in results.items() if n in ("lo", "hi")} == {"lo": (9, 1),
                                                                                           "hi": (9, 1)}
    assert {n: m["step"] for n, m in results.items() if n.startswith("d")} == dict.fromkeys(["d1", "d2", "d3", "d4"], 1)

    saved = MultiObjectiveASHA(SENSES, max_t=9, grace_period=1)
    saved.restore(str(local_ray / "results" / "mo" / STATE_FILE))  # synced with the experiment
    assert "num_stopped=4" in saved.debug_string() and "step 1: 6 arrived, 2 continued" in saved.debug_string()
    restored = tune.Tuner.restore(str(local_ray / "results" / "mo"), synthetic_trainable)
    assert {r.config["name"]: r.metrics["step"] for r in restored.fit()} == {n: m["step"] for n, m in results.items()}
