"""The search-efficiency benchmark in miniature: the surrogate against the grid's CSV, and two replays
of a few trials of every method (benchmarks/search_efficiency.py runs the full table)."""

import numpy as np
import pandas as pd
import pytest

from analysis.pareto import hypervolume
from benchmarks import search_efficiency as se
from benchmarks.surrogate import NAMES, SCORES_CSV, Surrogate


@pytest.fixture(scope="module")
def surrogate():
    return Surrogate.from_csv()


@pytest.fixture(scope="module")
def reference(surrogate):
    return se.reference_point(surrogate)


def test_expected_scores_match_the_grid_means_within_their_se(surrogate):
    grid = pd.read_csv(SCORES_CSV)
    grid["beta"] = grid["beta"].fillna(1.0)
    for (model_type, beta), rows in grid.groupby(["model_type", "beta"]):
        mean = rows[list(NAMES)].mean().to_numpy()
        sem = rows[list(NAMES)].std().to_numpy() / np.sqrt(len(rows))
        assert np.all(np.abs(surrogate.expected(model_type, beta) - mean) <= sem), (model_type, beta)


def test_beta_one_is_the_vae_and_only_the_beta_vae_collapses(surrogate):
    for model_type in ("beta_vae", "beta_tcvae"):
        np.testing.assert_allclose(surrogate.mean(model_type, 1.0), surrogate.mean("vae"))
    assert surrogate.collapse_probability("beta_vae", 16.0) == pytest.approx(1 / 3)
    assert surrogate.collapse_probability("beta_vae", 8.0) == 0.0
    assert surrogate.collapse_probability("beta_tcvae", 16.0) == 0.0
    assert all(np.all(surrogate.noise_sd(t) > 0) for t in surrogate.types)


def test_budget_axis_starts_on_the_plateau_and_ends_at_the_final_scores(surrogate):
    rng = np.random.default_rng(0)
    trial = surrogate.sample("beta_tcvae", 8.0, rng)
    np.testing.assert_array_equal(trial.at(1.0, rng), trial.final)
    early = trial.at(0.05, rng)  # step 45: before the first logged point, on the plateau
    assert abs(early[0] - surrogate.plateau[0]) < 5 * surrogate.se[0]
    assert trial.at(0.8, rng)[0] < trial.at(0.3, rng)[0]  # every real curve has left the plateau by 600
    collapsed = next(t for t in (surrogate.sample("beta_vae", 16.0, rng) for _ in range(200)) if t.collapsed)
    assert abs(collapsed.at(0.5, rng)[0] - surrogate.plateau[0]) < 5 * surrogate.se[0]


def test_grid_order_reproduces_the_grids_trials(surrogate, reference):
    entries = se.GridSource().entries
    assert [(e["model_type"], e.get("beta"), e["seed"]) for e in entries[:4]] == [
        ("ae", None, 0), ("ae", None, 1), ("ae", None, 2), ("vae", None, 0)]
    assert len(entries) == len(surrogate.scores) == 30
    real = se.real_grid(surrogate)
    np.testing.assert_allclose(np.sort(real, axis=0), np.sort(surrogate.scores[list(NAMES)].to_numpy(), axis=0))
    assert hypervolume(real, reference, se.SENSES) > 0


class RecordingGrid(se.GridSource):
    """The grid source, remembering what it handed out."""

    def __init__(self):
        super().__init__()
        self.asked = []

    def ask(self):
        handle, params = super().ask()
        self.asked.append(params)
        return handle, params


def test_a_noiseless_grid_replay_visits_the_grid_in_order(reference, monkeypatch):
    quiet = Surrogate.from_csv()
    monkeypatch.setattr(quiet, "noise_sd", lambda model_type: np.zeros(2))
    monkeypatch.setattr(quiet, "collapse_probability", lambda model_type, beta=None: 0.0)
    source = RecordingGrid()
    costs, hvs, true_hvs = se.replay(source, quiet, np.random.default_rng(0), reference, budget=40, concurrent=1)
    assert source.asked[:30] == source.entries and len(costs) == 30
    means = np.array([quiet.mean(e["model_type"], e.get("beta")) for e in source.entries])
    assert hvs[-1] == pytest.approx(hypervolume(means, reference, se.SENSES))
    np.testing.assert_allclose(hvs, true_hvs)


def test_the_benchmarks_tpe_is_the_studys():
    from study.search import make_sampler

    ours, study = se.make_sampler("tpe", 3), make_sampler("tpe", 3)
    for attribute in ("_multivariate", "_group", "_n_startup_trials", "_constant_liar"):
        assert getattr(ours, attribute) == getattr(study, attribute), attribute
    assert se.make_sampler("tpe-no-liar", 3)._constant_liar is False


def test_promotion_keeps_the_first_arrival_and_stops_a_dominated_one():
    assert se.promoted([], np.array([2.0, 0.1]), eta=2)
    better = [np.array([1.9, 0.2]), np.array([1.8, 0.3])]
    assert not se.promoted(better, np.array([2.2, 0.05]), eta=2)
    assert se.promoted(better, np.array([1.7, 0.4]), eta=2)


def test_the_oracle_asks_only_the_noiseless_front_in_turn(surrogate):
    entries = se.study_config("grid").space.configurations()
    means = {repr(e): surrogate.mean(e["model_type"], e.get("beta")) for e in entries}
    oracle = se.OracleSource(surrogate)
    asked = [oracle.ask()[1] for _ in range(2 * len(oracle.front))]
    assert asked[:len(oracle.front)] == asked[len(oracle.front):]
    for entry in oracle.front:  # no configuration of the grid dominates a front one (loop oracle)
        mine = means[repr(entry)]
        for other in means.values():
            blur_better, mig_better = other[0] <= mine[0], other[1] >= mine[1]
            assert not (blur_better and mig_better and (other[0] < mine[0] or other[1] > mine[1]))
    front_keys = {repr(e) for e in oracle.front}
    for key, mine in means.items():  # and every configuration off the front is dominated by one on it
        if key not in front_keys:
            assert any(means[f][0] <= mine[0] and means[f][1] >= mine[1] for f in front_keys)


@pytest.mark.parametrize("method, asha", [(m, None) for m in ("grid", "oracle", *se.SAMPLERS)] + [("tpe", "500:2")])
def test_replays_of_every_method(surrogate, reference, method, asha):
    rungs, eta = se.parse_asha(asha) if asha else ((), 2)
    runs = se.run_method(method, surrogate, reference, reps=2, budget=8, rungs=rungs, eta=eta)
    ideal = hypervolume(surrogate.ideal()[None], reference, se.SENSES)
    for costs, hvs, true_hvs in runs:
        assert costs[-1] >= 8 - 1e-9
        assert np.all(np.diff(costs) > 0) and np.all(np.diff(hvs) >= 0) and np.all(np.diff(true_hvs) >= 0)
        assert hvs[-1] > 0 and np.all(hvs <= ideal) and np.all(true_hvs <= ideal)
        if not asha:
            np.testing.assert_allclose(costs, np.arange(1, len(costs) + 1))
    if asha:  # a stopped trial costs its share of training and a scoring, a promoted one an extra scoring
        score = se.SCORE_SECONDS / (surrogate.scores["train_seconds"].mean() + se.SCORE_SECONDS)
        allowed = np.array([rungs[0] * (1 - score) + score, 1 + score])
        spent = np.diff(np.r_[0, runs[0][0]])
        assert np.all(np.isclose(spent[:, None], allowed).any(axis=1))
        assert np.isclose(spent, allowed[0]).any()
    table = se.row(method, runs, target=0.18, columns=[2, 8], budget=8)
    assert table.startswith(f"| {method} |") and table.count("|") == 6
