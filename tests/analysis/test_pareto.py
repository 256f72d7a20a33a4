"""Pareto sets, ranks and hypervolume against brute force and hand-computed cases."""

import itertools

import numpy as np
import pandas as pd
import pytest

from analysis.pareto import (
    default_reference,
    hypervolume,
    hypervolume_progress,
    neighbour_separation,
    non_dominated_mask,
    non_dominated_ranks,
    pareto_front,
    seed_aggregate,
)


def brute_front(points, senses):
    signs = np.array([1 if s == "min" else -1 for s in senses])
    p = points * signs
    keep = []
    for i in range(len(p)):
        dominated = any(np.all(p[j] <= p[i]) and np.any(p[j] < p[i]) for j in range(len(p)) if j != i)
        keep.append(not dominated)
    return np.array(keep)


@pytest.mark.parametrize("senses", [("min", "max"), ("max", "max"), ("min", "max", "min"), ("max", "min", "max")])
@pytest.mark.parametrize("seed", range(5))
def test_front_and_ranks_match_brute_force(senses, seed):
    g = np.random.default_rng(seed)
    pts = g.integers(0, 6, size=(40, len(senses))).astype(float)  # small integers: ties and duplicates
    pts = np.concatenate([pts, pts[:5]])
    mask = non_dominated_mask(pts, senses)
    assert np.array_equal(mask, brute_front(pts, senses))
    ranks = non_dominated_ranks(pts, senses)
    remaining = np.ones(len(pts), bool)
    for r in range(ranks.max() + 1):
        idx = np.flatnonzero(remaining)
        expected = np.zeros(len(pts), bool)
        expected[idx[brute_front(pts[idx], senses)]] = True
        assert np.array_equal(ranks == r, expected)
        remaining &= ~expected


def test_duplicates_of_a_front_point_are_all_on_the_front():
    pts = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
    assert non_dominated_mask(pts, ["min", "min"]).tolist() == [True, True, False]


def test_dataframe_front():
    df = pd.DataFrame({"recon_error": [10, 20, 30, 15], "beta_vae_score": [0.5, 0.7, 0.6, 0.4], "name": list("abcd")})
    front = pareto_front(df, {"recon_error": "min", "beta_vae_score": "max"})
    assert front["name"].tolist() == ["a", "b"]


def test_hypervolume_2d_hand_computed():
    # minimise both, reference (4, 4): union of [1,4]x[3,4] and [2,4]x[1,4] = 3 + 6 - 2 = 7
    assert hypervolume([[1, 3], [2, 1]], [4, 4], ["min", "min"]) == pytest.approx(7.0)
    assert hypervolume([[1, 3], [2, 1], [3, 3]], [4, 4], ["min", "min"]) == pytest.approx(7.0)
    # maximise y: points (1, 0.5), (2, 0.8) with reference (3, 0): 2*0.5 + 1*0.3 = 1.3
    assert hypervolume([[1, 0.5], [2, 0.8]], [3, 0.0], ["min", "max"]) == pytest.approx(1.3)
    assert hypervolume([[5, 5]], [4, 4], ["min", "min"]) == 0.0


def grid_volume(points, ref, steps=16):
    """Brute-force volume: count the cells of a grid over [0, ref) dominated by some point
    (minimisation). Exact for integer coordinates, which lie on cell boundaries."""
    axes = [np.linspace(0.0, hi, steps, endpoint=False) + hi / (2 * steps) for hi in ref]
    cell = np.prod([hi / steps for hi in ref])
    count = 0
    for c in itertools.product(*axes):
        if np.any(np.all(points <= np.array(c), axis=1)):
            count += 1
    return count * cell


@pytest.mark.parametrize("seed", range(3))
def test_hypervolume_3d_against_grid(seed):
    g = np.random.default_rng(seed)
    pts = g.integers(0, 8, size=(6, 3)).astype(float)
    ref = np.array([8.0, 8.0, 8.0])
    assert hypervolume(pts, ref, ["min"] * 3) == pytest.approx(grid_volume(pts, ref), rel=1e-9)


def test_hypervolume_never_decreases_as_trials_are_added():
    g = np.random.default_rng(0)
    df = pd.DataFrame({"a": g.normal(size=30), "b": g.normal(size=30), "start_time": np.arange(30)})
    curve = hypervolume_progress(df, {"a": "min", "b": "max"})
    assert np.all(np.diff(curve) >= -1e-12) and curve[-1] > 0
    ref = default_reference(df[["a", "b"]].to_numpy(), ["min", "max"])
    assert ref[0] > df["a"].max() and ref[1] < df["b"].min()


@pytest.mark.parametrize("dims", [2, 3])
def test_hypervolume_progress_matches_recomputing_each_prefix(dims):
    """Loop oracle: the volume of every prefix recomputed from scratch; integer values give ties,
    duplicates and points on the reference."""
    g = np.random.default_rng(dims)
    cols = ["a", "b", "c"][:dims]
    senses = ["min", "max", "min"][:dims]
    df = pd.DataFrame(g.integers(0, 6, size=(60, dims)).astype(float), columns=cols)
    df["start_time"] = g.permutation(60)
    ref = np.array([5.0, 0.0, 5.0])[:dims]
    curve = hypervolume_progress(df, dict(zip(cols, senses, strict=True)), reference=ref)
    pts = df.sort_values("start_time")[cols].to_numpy()
    oracle = [hypervolume(pts[: k + 1], ref, senses) for k in range(len(pts))]
    assert curve == pytest.approx(oracle, rel=1e-12, abs=1e-12)
    assert curve[-1] > 0


def test_seed_aggregate_shows_spread_and_front_of_means():
    df = pd.DataFrame({"model_type": ["vae"] * 3 + ["beta_vae"] * 3, "beta": [np.nan] * 3 + [4.0] * 3,
                       "latent_dim": [10] * 6, "recon": [10, 12, 14, 20, 22, 24],
                       "score": [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]})
    agg = seed_aggregate(df, {"recon": "min", "score": "max"})
    assert len(agg) == 2 and set(agg["recon_count"]) == {3}
    assert agg.set_index("model_type").loc["vae", "recon_mean"] == pytest.approx(12)
    assert agg.set_index("model_type").loc["vae", "recon_std"] == pytest.approx(2)
    assert agg["on_front"].all()


def test_bad_senses_and_nan_are_refused():
    with pytest.raises(ValueError, match="senses"):
        non_dominated_mask([[1, 2]], ["min", "up"])
    with pytest.raises(ValueError, match="NaN"):
        non_dominated_mask([[1, np.nan]], ["min", "min"])


def test_neighbour_separation_compares_each_step_with_its_noise():
    front = pd.DataFrame({"blur": [0.5, 1.0, 1.05, 3.0], "blur_se": [0.02, 0.02, 0.02, 0.05],
                          "mig": [0.05, 0.20, 0.21, 0.40], "mig_se": [0.01, 0.01, 0.01, 0.02]},
                         index=["a", "b", "c", "d"])
    sep = neighbour_separation(front.sample(frac=1, random_state=0), {"blur": "min", "mig": "max"})
    assert list(zip(sep["a"], sep["b"], strict=True)) == [("a", "b"), ("b", "c"), ("c", "d")]  # ordered by blur
    assert list(sep["resolved"]) == [True, False, True]
    assert sep.loc[1, "unresolved"] == "blur, mig"
    assert sep.loc[1, "mig_noise"] == pytest.approx(2 * np.hypot(0.01, 0.01))
    # loop oracle: a step is resolved iff every objective moves by at least 2 combined SE
    for _, row in sep.iterrows():
        a, b = front.loc[row["a"]], front.loc[row["b"]]
        expect = all(abs(a[m] - b[m]) >= 2 * np.sqrt(a[f"{m}_se"] ** 2 + b[f"{m}_se"] ** 2) for m in ("blur", "mig"))
        assert row["resolved"] == expect
    no_se = neighbour_separation(front[["blur", "mig"]], {"blur": "min", "mig": "max"})
    assert no_se["resolved"].all()  # without SE columns every difference counts as exact
