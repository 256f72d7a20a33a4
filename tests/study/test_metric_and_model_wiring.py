"""The config's declarations match what trials do: which metric preset computes what (the basis of
the objective checks in ``study.config.validate``), the Gaussian σ² reaching the model, and the
dataset's record name."""

from types import SimpleNamespace

from analysis.metrics.scoring import PRESETS
from study import config as C
from train.data import DSprites, record_name
from train.trial_run import build_model_for
from train.validation import trial_from_dict


def test_preset_declarations_match_the_scoring_presets():
    assert set(C.PRESET_METRICS) == set(PRESETS)
    for name, preset in PRESETS.items():
        computed = set(C.PRESET_METRICS[name])
        assert preset.disentanglement == bool(computed & set(C.FACTOR_METRICS + C.PROBE_METRICS)), name
        assert (preset.dci_train > 0) == ({m for m in C.METRIC_DIRECTIONS if m.startswith("dci_")} <= computed), name


def test_gaussian_variance_reaches_the_model():
    data = SimpleNamespace(num_channels=3, default_likelihood="gaussian", num_examples=1000)
    trial = trial_from_dict({"model_type": "beta_tcvae", "beta": 20, "gaussian_variance": 2.0,
                               "latent_dim": 4})
    model = build_model_for(trial, data)
    assert model.likelihood.variance == 2.0 and model.config["gaussian_variance"] == 2.0
    bernoulli = build_model_for(trial.with_updates(likelihood="bernoulli"), data)
    assert not hasattr(bernoulli.likelihood, "variance")  # σ² is ignored by the Bernoulli likelihood


def test_dsprites_is_recorded_as_procedural():
    assert DSprites.name == "dsprites" and DSprites.record_name == "dsprites-procedural"
    assert DSprites.record_name == record_name(DSprites.name)


def test_report_names_the_recorded_dataset():
    import pandas as pd

    from analysis.report import dataset_note

    note = dataset_note(pd.DataFrame({"dataset_record": [record_name("dsprites")] * 2}))
    assert note.startswith("Dataset: dsprites-procedural (rendered procedurally")
    assert "published" in note
    assert dataset_note(pd.DataFrame({"dataset_record": ["celeba"]})) == "Dataset: celeba."
    assert dataset_note(pd.DataFrame({"model_type": ["vae"]})) is None
