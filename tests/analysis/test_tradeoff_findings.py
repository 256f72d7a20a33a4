"""The tradeoff findings on synthetic studies with planted effects: trends, a null at its stated
rate, common random numbers, model-type differences, the robust front and too few seeds."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.tradeoff import Settings, analyse, findings, stats, write
from analysis.tradeoff.findings import DECREASES, HIGHER, INCREASES, LOWER, NOT_SHOWN, PLAIN, WITHIN_SEED

FAST = Settings(bootstrap=400, permutations=400, matched_draws=200)
BETAS = (1.0, 2.0, 4.0, 8.0, 16.0)


def beta_study(rng, slope=0.0, seeds=5, seed_sd=0.0, noise=0.02, metric="mig", model_type="beta_vae"):
    """One model type over β: metric = slope·log2 β + a per-seed level (shared by the seed's
    trials: common random numbers) + noise."""
    level = rng.normal(0, seed_sd, size=seeds)
    return pd.DataFrame([{"model_type": model_type, "beta": b, "seed": s, "trial_status": "completed",
                          metric: 0.3 + slope * np.log2(b) + level[s] + rng.normal(0, noise)}
                         for s in range(seeds) for b in BETAS])


def only(result, **keys):
    hits = [f for f in result.findings if all(getattr(f, k) == v for k, v in keys.items())]
    assert len(hits) == 1, hits
    return hits[0]


def test_a_planted_monotone_trend_is_found():
    rng = np.random.default_rng(0)
    up = only(analyse(beta_study(rng, slope=0.05), settings=FAST), finding="trend", metric="mig")
    assert up.verdict == INCREASES and up.ci[0] > 0 and up.p < 0.01
    assert up.estimate == pytest.approx(0.05, abs=0.01) and up.rho > 0.8
    assert up.test == WITHIN_SEED and up.n_seeds == 5 and up.n_trials == 25 and up.unit == "per doubling of beta"
    down = only(analyse(beta_study(rng, slope=-0.05, metric="blur"), settings=FAST), finding="trend")
    assert down.verdict == DECREASES and down.family == "trends of blur"


def test_nulls_are_shown_at_about_the_stated_rate():
    rng = np.random.default_rng(1)
    shown = 0
    for _ in range(200):
        found = findings.trend(beta_study(rng, seeds=4, seed_sd=0.05), "beta_vae", "beta", "mig", "max", FAST, rng)
        findings.decide([found])
        shown += found.verdict != NOT_SHOWN
    assert shown / 200 <= 0.07


def test_within_seed_test_finds_a_small_trend_under_a_large_seed_effect_that_an_unpaired_test_misses():
    rng = np.random.default_rng(2)
    frame = beta_study(rng, slope=0.01, seeds=4, seed_sd=0.5, noise=0.005)
    found = findings.trend(frame, "beta_vae", "beta", "mig", "max", FAST, rng)
    findings.decide([found])
    assert found.test == WITHIN_SEED and found.verdict == INCREASES and found.p < 0.01
    x, y = np.log2(frame["beta"].to_numpy()), frame["mig"].to_numpy()
    unpaired = stats.trend_pvalue(x, y, np.zeros(len(y), dtype=int), rng, 400)
    assert unpaired > 0.2  # the seeds' levels swamp the plain permutation test
    # seeds not shared (each trial its own seed): the plain test is the one used, and said so
    alone = frame.assign(seed=np.arange(len(frame)))
    assert findings.trend(alone, "beta_vae", "beta", "mig", "max", FAST, rng).test == PLAIN


def two_types(rng, difference, seeds=5, seed_sd=0.3):
    """VAE and β-VAE sharing seeds (each seed's level common to both), β-VAE higher by ``difference``."""
    level = rng.normal(0, seed_sd, size=seeds)
    rows = []
    for s in range(seeds):
        for mt, shift, betas in (("vae", 0.0, (np.nan,) * 2), ("beta_vae", difference, (2.0, 4.0))):
            for b in betas:
                recon = 100 + 10 * shift + rng.normal(0, 1)
                rows.append({"model_type": mt, "beta": b, "seed": s, "recon_error": recon,
                             "mig": 0.4 + shift + level[s] + rng.normal(0, 0.01)})
    return pd.DataFrame(rows)


def test_a_planted_difference_between_model_types_is_higher_one_way_and_lower_the_other():
    rng = np.random.default_rng(3)
    result = analyse(two_types(rng, 0.1), settings=FAST)
    found = only(result, finding="compare", metric="mig", matched=None)
    assert (found.a, found.b) == ("beta_vae", "vae")  # the later type in the seed report's order is a
    assert found.verdict == HIGHER and found.estimate == pytest.approx(0.1, abs=0.02) and found.test == WITHIN_SEED
    assert found.seeds_needed == 3  # a 10-SD effect: the minimum suffices
    lower = only(analyse(two_types(rng, -0.1), settings=FAST), finding="compare", metric="mig", matched=None)
    assert lower.verdict == LOWER
    null = only(analyse(two_types(rng, 0.0), settings=FAST), finding="compare", metric="mig", matched=None)
    assert null.verdict == NOT_SHOWN and null.reason is None


def test_front_probability_of_a_dominant_configuration_is_one_and_of_a_dominated_one_zero():
    rng = np.random.default_rng(4)
    centres = {"ae": (0.5, 0.9), "vae": (0.9, 0.3), "beta_vae": (0.7, 0.6), "beta_tcvae": (0.72, 0.58)}
    rows = [{"model_type": mt, "seed": s, "blur": bx + rng.normal(0, 0.03), "mig": my + rng.normal(0, 0.03)}
            for mt, (bx, my) in centres.items() for s in range(4)]
    front = analyse(pd.DataFrame(rows), objectives={"blur": "min", "mig": "max"}, settings=FAST).front
    p = {point.config: point.p_front for point in front.points}
    assert front.axes == {"blur": "min", "mig": "max"}
    assert p["ae"] > 0.99 and p["vae"] < 0.01
    assert front.points[0].config == "ae" and front.points[0].on_front
    lo, hi = front.points[0].ci["blur"]
    assert lo <= front.points[0].means["blur"] <= hi


def test_too_few_seeds_is_not_shown_with_a_reason_and_the_seeds_it_would_need():
    rng = np.random.default_rng(5)
    found = only(analyse(beta_study(rng, slope=0.05, seeds=2), settings=FAST), finding="trend")
    assert found.verdict == NOT_SHOWN and "2 seed(s)" in found.reason and "at least 3" in found.reason
    assert found.seeds_needed is not None and found.seeds_needed >= 3
    levels = beta_study(rng, slope=0.05, seeds=4)
    found = only(analyse(levels[levels["beta"] <= 2], settings=FAST), finding="trend")
    assert found.verdict == NOT_SHOWN and "2 value(s) of the hyperparameter" in found.reason


def test_collapsed_and_failed_trials_are_left_out_and_counted():
    rng = np.random.default_rng(6)
    frame = beta_study(rng, slope=0.05, metric="blur")
    frame.loc[0, "blur"] = np.nan  # a collapsed trial: no blur
    frame.loc[1, "trial_status"] = "failed"
    result = analyse(frame, settings=FAST)
    found = only(result, finding="trend")
    assert found.n_trials == 23 and found.n_excluded == 1 and result.counts["completed"] == 24


def test_the_json_lists_every_finding_with_its_keys(tmp_path):
    rng = np.random.default_rng(7)
    result = analyse(two_types(rng, 0.1).to_dict("records"), settings=FAST, study="synthetic")
    written = write(result, str(tmp_path))
    records = json.loads((tmp_path / "tradeoff.json").read_text())
    assert len(records) == len(result.findings)
    common = {"finding", "metric", "estimate", "ci", "p", "verdict", "n_trials", "n_seeds", "test", "seeds_needed"}
    for record in records:
        keys = {"model_type", "hyperparameter"} if record["finding"] == "trend" else {"a", "b", "matched"}
        assert common | keys <= set(record), record
        assert record["verdict"] in ("increases", "decreases", "higher", "lower", "not shown")
    assert {r["matched"] for r in records if r["finding"] == "compare"} == {None, "recon_error"}
    md = (tmp_path / "tradeoff.md").read_text()
    assert "## Trends" in md and "## Comparisons of model types" in md and "Holm" in md
    assert written["tradeoff_front"].endswith(".png") and (tmp_path / "tradeoff_front.svg").exists()


def test_a_type_better_at_matched_reconstruction_is_found_where_the_fronts_overlap():
    """β-TCVAE's MIG is 0.05 above β-VAE's at the same recon_error, though its β buys more recon."""
    rng = np.random.default_rng(8)
    level = rng.normal(0, 0.2, size=5)
    rows = []
    for s in range(5):
        for mt, cost, shift in (("beta_vae", 10.0, 0.0), ("beta_tcvae", 14.0, 0.05)):
            for b in (1.0, 2.0, 4.0, 8.0):
                recon = 100 + cost * np.log2(b) + rng.normal(0, 0.3)
                rows.append({"model_type": mt, "beta": b, "seed": s, "recon_error": recon,
                             "mig": 0.01 * (recon - 100) + shift + level[s] + rng.normal(0, 0.005)})
    result = analyse(pd.DataFrame(rows), settings=FAST)
    matched = only(result, finding="compare", metric="mig", matched="recon_error")
    assert (matched.a, matched.b) == ("beta_tcvae", "beta_vae") and matched.verdict == HIGHER
    assert matched.estimate == pytest.approx(0.05, abs=0.015)
    assert matched.family == "comparisons of mig at matched recon_error"
    assert matched.test == "within-seed residual permutation"
    apart = pd.DataFrame(rows).assign(recon_error=lambda d: d["recon_error"] + 100 * (d["model_type"] == "beta_vae"))
    found = only(analyse(apart, settings=FAST), finding="compare", metric="mig", matched="recon_error")
    assert found.verdict == NOT_SHOWN and "share no recon_error range" in found.reason


def test_matched_comparisons_of_types_on_one_curve_are_shown_at_about_the_stated_rate():
    """Both types on the same score-vs-recon curve (β buys recon at different rates, large seed
    levels): permuting the type labels would not be valid here (the types differ in recon), the
    residual permutation is."""
    rng = np.random.default_rng(9)
    shown = 0
    for _ in range(60):
        level = rng.normal(0, 0.2, size=4)
        rows = []
        for s in range(4):
            for mt, cost in (("beta_vae", 10.0), ("beta_tcvae", 14.0)):
                for b in (1.0, 2.0, 4.0):
                    recon = 100 + cost * np.log2(b) + rng.normal(0, 0.3)
                    rows.append({"model_type": mt, "beta": b, "seed": s, "recon_error": recon,
                                 "mig": 0.01 * (recon - 100) + level[s] + rng.normal(0, 0.01)})
        found = findings.compare(pd.DataFrame(rows), "beta_tcvae", "beta_vae", "mig", "max", FAST, rng,
                                 matched="recon_error")
        findings.decide([found])
        shown += found.verdict != NOT_SHOWN
    assert shown / 60 <= 0.1


def paired_types(rng, seeds):
    """One AE and one VAE trial per seed, the VAE far higher: a paired design (2 arrangements per seed)."""
    return pd.DataFrame([{"model_type": mt, "seed": s, "mig": 0.1 + 0.5 * (mt == "vae") + rng.normal(0, 0.01)}
                         for s in range(seeds) for mt in ("ae", "vae")])


def test_a_design_too_coarse_for_its_permutation_test_says_so_and_how_many_seeds_reach_it():
    rng = np.random.default_rng(8)
    coarse = only(analyse(paired_types(rng, 3), settings=FAST), finding="compare", metric="mig")
    assert coarse.arrangements == 8 and coarse.min_p == 1 / 8  # 2^3 ways to swap labels within seeds
    assert coarse.verdict == NOT_SHOWN and coarse.reason is None and coarse.ci[0] > 0.4  # a 50-SD effect
    assert "smallest p, 0.12" in coarse.limit and "5 seeds reach it" in coarse.limit and coarse.seeds_needed == 5
    fine = only(analyse(paired_types(rng, 6), settings=FAST), finding="compare", metric="mig")
    assert fine.verdict == HIGHER and fine.limit is None and fine.seeds_needed == 5
