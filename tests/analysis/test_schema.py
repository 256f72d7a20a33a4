"""The record schema (analysis/schema.py) against what the code produces and what reads it.

The catalogue must list exactly the metrics a trial computes: ``score_model`` per metric preset and
kind of dataset, and ``evaluate_objective_terms`` per model type. The config's metric declarations
and the analysis CLI's directions are views of it; docs/architecture.md names every tag, status,
artifact and metric; and the module imports nothing heavy.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from analysis import schema
from analysis.metrics import scoring
from analysis.schema import CATALOGUE, METRICS, SE_SUFFIX, TAGS, Source, TrialStatus
from tests.analysis.metrics.test_reconstruction import TinyModel
from train.data import record_name

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def small(preset: scoring.MetricPreset) -> scoring.MetricPreset:
    """``preset`` with the same scorers at tiny sizes (codes from a small pool, never the whole grid)."""
    return preset.capped(200, eval_size=min(preset.eval_size, 64), grid_limit=0,
                         pool_size=min(preset.pool_size, 512), bootstrap=5)


class LabelledData:
    """A dataset without ground-truth factors: random binary images with three binary labels."""

    has_factors = False

    def eval_set(self, n, seed=0):
        images = (torch.rand(n, 1, 64, 64, generator=torch.Generator().manual_seed(seed)) > 0.5).float()
        return images, np.random.default_rng(seed).integers(0, 2, (n, 3))


def expected(source: Source, *, preset=None, factors=None, model_type=None, deterministic=()) -> set[str]:
    """The catalogue's metrics from ``source`` that apply to a preset / dataset kind / model type."""
    out = set()
    for m in CATALOGUE:
        if m.source != source or (preset is not None and preset not in m.presets):
            continue
        if factors is not None and ((m.needs_factors and not factors) or (m.without_factors and factors)):
            continue
        if model_type is not None and ((m.needs_probabilistic and model_type in deterministic)
                                       or (m.model_types and model_type not in m.model_types)):
            continue
        out.add(m.name)
    return out


@pytest.fixture(scope="module")
def datasets():
    from train.data import dsprites

    return {True: dsprites(), False: LabelledData()}


@pytest.mark.parametrize("preset", [pytest.param(p, marks=pytest.mark.slow) if p == "full" else p  # DCI's trees
                                    for p in sorted(scoring.PRESETS)])
@pytest.mark.parametrize("factors", [True, False], ids=["factors", "labels"])
def test_score_model_produces_exactly_the_catalogued_metrics(preset, factors, datasets, monkeypatch):
    monkeypatch.setitem(scoring.PRESETS, preset, small(scoring.PRESETS[preset]))
    torch.manual_seed(0)
    scores = scoring.score_model(TinyModel(), datasets[factors], np.random.default_rng(0), preset)
    numbers = {k for k, v in scores.items() if isinstance(v, (int, float)) and not k.endswith(SE_SUFFIX)}
    errors = {k[: -len(SE_SUFFIX)] for k in scores if k.endswith(SE_SUFFIX)}
    want = expected(Source.SCORES, preset=preset, factors=factors)
    assert numbers == want
    assert errors == {name for name in want if METRICS[name].has_se}
    assert {k for k, v in scores.items() if isinstance(v, str)} <= set(TAGS)  # strings are recorded as tags


@pytest.mark.parametrize("model_type", ["ae", "vae", "beta_vae", "beta_tcvae", "annealed_vae", "factor_vae",
                                        "dip_vae_i", "dip_vae_ii"])
def test_objective_terms_are_catalogued(model_type):
    from models import MODELS, build_model
    from train.evaluation import evaluate_objective_terms

    assert model_type in MODELS
    deterministic = tuple(name for name, cls in MODELS.items() if not cls.probabilistic)
    torch.manual_seed(0)
    model = build_model(model_type, 3, dataset_size=64)
    images = (torch.rand(64, 1, 64, 64) > 0.5).float()
    terms = evaluate_objective_terms(model, images, batch_size=32)
    names = {k for k in terms if not k.startswith(schema.KL_DIM_PREFIX)}
    assert names == expected(Source.TERMS, model_type=model_type, deterministic=deterministic)


def test_catalogue_entries_are_well_formed():
    assert len(METRICS) == len(CATALOGUE)
    for m in CATALOGUE:
        assert m.direction in ("min", "max", None), m.name
        assert set(m.presets) <= set(schema.METRIC_PRESETS) and m.presets, m.name
        assert m.label and not (m.needs_factors and m.without_factors), m.name
        assert m.direction is not None or not m.objective, m.name  # an objective needs a better side
    assert METRICS["blur"].label == "blur (px, equivalent Gaussian σ of lost detail)" and METRICS["blur"].unit == "px"
    assert [m.name for m in CATALOGUE if m.intermediate] == ["val_recon_error"]
    assert set(scoring.PRESETS) == set(schema.METRIC_PRESETS)


def test_what_a_study_may_optimise_follows_the_catalogue():
    """Each entry's flags decide what a config accepts: as an objective (with which metric preset,
    dataset and model types) and as ASHA's metric."""
    from study import config as C

    def accepted(search, metrics="full", model_types=("vae",)):
        try:
            C.make_config("quick", overrides={"search": search, "trial": {"metrics": metrics},
                                              "space": {"model_types": list(model_types)}})
        except C.ConfigError:
            return False
        return True

    for m in CATALOGUE:
        objective = {"objectives": [m.name]}
        assert accepted({"asha": True, "asha_metric": m.name, "objectives": ["recon_error"]}) == m.intermediate, m.name
        if not m.objective or m.without_factors:  # dSprites has factors: the probe is for data without
            assert not accepted(objective), m.name
            continue
        for preset in C.METRIC_PRESETS:
            assert accepted(objective, metrics=preset) == (preset in m.presets), (m.name, preset)
        assert accepted(objective, model_types=("ae",)) == (not m.needs_probabilistic and "full" in m.presets), m.name
    assert record_name("dsprites") == "dsprites" + schema.PROCEDURAL_SUFFIX


def test_cli_direction_of_every_catalogued_metric_is_the_catalogues():
    from analysis.__main__ import build_parser, metric_sense
    from analysis.runs import RunsError

    for m in CATALOGUE:
        args = build_parser().parse_args(["pareto", "--study", "s", "--x", m.name])
        if m.direction is None:
            with pytest.raises(RunsError, match=f"x: {m.name} has no better side"):
                metric_sense(args.x, args.x_sense, "x")
        else:
            assert metric_sense(args.x, args.x_sense, "x") == m.direction, m.name
    assert metric_sense("val_recon_error", None, "x") == "min"  # was "max" before the catalogue
    assert metric_sense("data_sharpness", "max", "y") == "max"  # a given direction always wins
    assert metric_sense("a_hand_made_column", None, "y") == "max"


def test_run_state_of_each_status():
    assert schema.run_state(TrialStatus.RUNNING) == schema.RunState.RUNNING
    for status in (TrialStatus.COMPLETED, TrialStatus.PRUNED, schema.StudyStatus.COMPLETED):
        assert schema.run_state(status) == schema.RunState.FINISHED
    for status in (TrialStatus.DIVERGED, TrialStatus.FAILED, TrialStatus.ABANDONED, schema.StudyStatus.FAILED):
        assert schema.run_state(status) == schema.RunState.FAILED
    assert str(TrialStatus.PRUNED) == "pruned" and type(str(TrialStatus.PRUNED)) is str


def test_record_helpers():
    assert schema.numeric_values({"a": 1, "b": 0.5, "c": "fast", "d": None}) == {"a": 1.0, "b": 0.5}
    assert schema.se_name("mig") == "mig_se" and schema.metric_label("no_such") == "no_such"
    assert schema.metric_direction("recon_error") == "min" and schema.metric_direction("no_such") is None
    assert schema.arrow("min") == "↓" and schema.arrow("max") == "↑"


def test_default_tracking_uri(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert schema.default_tracking_uri(str(tmp_path)) == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert schema.default_tracking_uri(str(tmp_path)) == "http://127.0.0.1:5000"


def test_schema_imports_no_ray_torch_or_mlflow():
    code = ("import sys, analysis.schema; "
            "print(','.join(m for m in ('ray', 'torch', 'mlflow', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_architecture_doc_names_every_tag_status_and_metric():
    with open(os.path.join(ROOT, "docs", "architecture.md")) as handle:
        doc = handle.read()
    values = [*schema.TrialStatus, *schema.StudyStatus, *schema.Role, *schema.RunState]
    missing = [n for n in [*TAGS, *map(str, values), *METRICS] if f"`{n}`" not in doc]
    missing += [a for k, a in vars(schema.Artifact).items() if k.isupper() and a not in doc]
    assert not missing, f"docs/architecture.md does not name: {missing}"


def test_architecture_doc_holds_the_rendered_metric_table():
    """docs/architecture.md's table is :func:`analysis.catalogue.metrics_table`, exactly (regenerate it
    with ``python -m analysis.catalogue --metrics-table``)."""
    with open(os.path.join(ROOT, "docs", "architecture.md")) as handle:
        doc = handle.read()
    table = schema.metrics_table()
    assert table in doc, "docs/architecture.md: regenerate the table: python -m analysis.catalogue --metrics-table"
    header = table.splitlines()[0]
    start = doc.index(header)
    assert doc[start:].split("\n\n", 1)[0] + "\n" == table  # no extra row after it
    done = subprocess.run([sys.executable, "-m", "analysis.catalogue", "--metrics-table"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0 and done.stdout == table, done.stderr


def test_scorers_are_catalogued_once_in_run_order():
    names = [s.module for s in schema.SCORERS]
    assert len(names) == len(set(names))
    for scorer in schema.SCORERS:
        assert scorer.metrics and all(METRICS[m.name] == m for m in scorer.metrics), scorer.module
        assert all(set(sizes) == set(next(iter(scorer.sizes.values()))) for sizes in scorer.sizes.values())
    scored = [m.name for m in CATALOGUE if m.scorer]
    assert scored == [m.name for s in schema.SCORERS for m in s.metrics]
    for name, preset in scoring.PRESETS.items():
        assert set(preset.scorer_sizes) == {s.module for s in schema.SCORERS if name in s.sizes}
