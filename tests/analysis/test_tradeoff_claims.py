"""Claims judged from findings by the stated rule: every outcome, comparisons named either way
round, a bad claims file refused naming what is wrong, and the seed report's claims file loads."""

import json
import os

import pytest

from analysis.__main__ import main
from analysis.tradeoff import claims
from analysis.tradeoff.findings import COMPARE, DECREASES, HIGHER, INCREASES, LOWER, NOT_SHOWN, TREND, Finding

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def trend(model_type, metric, verdict):
    return Finding(TREND, metric, "min", model_type=model_type, hyperparameter="beta", verdict=verdict)


def compare(a, b, metric, verdict):
    return Finding(COMPARE, metric, "max", a=a, b=b, verdict=verdict)


def claim(*expects):
    return claims.Claim("x", "a claim", tuple(claims.Expect(**e) for e in expects))


UP_VAE = {"finding": "trend", "model_type": "beta_vae", "hyperparameter": "beta", "metric": "blur",
          "expect": "increases"}
UP_TC = {**UP_VAE, "model_type": "beta_tcvae"}


@pytest.mark.parametrize(("verdicts", "expected"), [
    ((INCREASES, INCREASES), claims.SUPPORTED),
    ((INCREASES, NOT_SHOWN), claims.PARTLY),
    ((INCREASES, DECREASES), claims.CONTRADICTED),
    ((NOT_SHOWN, NOT_SHOWN), claims.NOT_SHOWN),
])
def test_a_claims_verdict_follows_the_rule(verdicts, expected):
    found = [trend("beta_vae", "blur", verdicts[0]), trend("beta_tcvae", "blur", verdicts[1])]
    (judged,) = claims.judge([claim(UP_VAE, UP_TC)], found)
    assert judged.verdict == expected


def test_a_claim_with_none_of_its_findings_in_the_study_is_not_tested_and_one_missing_is_not_shown():
    assert claims.judge([claim(UP_VAE)], [trend("beta_tcvae", "blur", INCREASES)])[0].verdict == claims.NOT_TESTED
    (judged,) = claims.judge([claim(UP_VAE, UP_TC)], [trend("beta_tcvae", "blur", INCREASES)])
    assert judged.verdict == claims.PARTLY and judged.evidence[0][2] == "not tested"


def test_a_comparison_is_matched_either_way_round():
    expect = {"finding": "compare", "a": "beta_tcvae", "b": "vae", "metric": "mig", "expect": "higher"}
    same_way = claims.judge([claim(expect)], [compare("beta_tcvae", "vae", "mig", HIGHER)])[0]
    other_way = claims.judge([claim(expect)], [compare("vae", "beta_tcvae", "mig", LOWER)])[0]
    opposed = claims.judge([claim(expect)], [compare("vae", "beta_tcvae", "mig", HIGHER)])[0]
    assert (same_way.verdict, other_way.verdict, opposed.verdict) == (
        claims.SUPPORTED, claims.SUPPORTED, claims.CONTRADICTED)
    matched = claims.judge([claim(expect)], [Finding(COMPARE, "mig", "max", a="beta_tcvae", b="vae",
                                                     matched="recon_error", verdict=HIGHER)])[0]
    assert matched.verdict == claims.NOT_TESTED  # an overall comparison is not one at matched reconstruction


@pytest.mark.parametrize(("text", "message"), [
    ("claims:\n  - {id: a, expects: [{finding: slope, metric: mig, expect: increases}]}\n", "finding 'slope'"),
    ("claims:\n  - {id: a, expects: [{finding: trend, metric: mig, expect: higher, model_type: m, "
     "hyperparameter: b}]}\n", "expect 'higher' for a trend"),
    ("claims:\n  - {id: a, expects: [{finding: compare, metric: mig, expect: higher, a: x}]}\n", "needs b"),
    ("claims:\n  - {id: a, expects: [{finding: compare, metrc: mig, expect: higher, a: x, b: y}]}\n", "unknown key"),
    ("claims:\n  - {id: a}\n", "no expects"),
    ("other: 1\n", "no claims"),
])
def test_a_bad_claims_file_is_refused_naming_the_field(tmp_path, text, message):
    path = tmp_path / "claims.yaml"
    path.write_text(text)
    with pytest.raises((ValueError, TypeError), match=message):
        claims.load(str(path))


def test_the_seed_reports_claims_judged_by_the_cli(tmp_path, capsys):
    stated = claims.load(os.path.join(REPO, "benchmarks", "seed-report-claims.yaml"))
    assert [c.id for c in stated] == ["i", "ii", "iii", "iv"]
    out = tmp_path / "t"
    assert main(["tradeoff", "--csv", os.path.join(REPO, "benchmarks", "data", "seed-dsprites.csv"), "--out", str(out),
                 "--claims", os.path.join(REPO, "benchmarks", "seed-report-claims.yaml")]) == 0
    judged = json.loads((out / "claims.json").read_text())
    assert [j["id"] for j in judged] == ["i", "ii", "iii", "iv"]
    assert judged[3]["verdict"] == claims.NOT_TESTED  # the 900-step grid has no AE-vs-VAE sample distance
    assert all(e["finding"] is None or {"estimate", "ci", "p", "verdict"} <= set(e["finding"])
               for j in judged for e in j["evidence"])
    assert "## Claims" in capsys.readouterr().out
