"""Search space: conditional parameters appear only where they apply; grid mode is exact."""

import optuna
import pytest

from study.config import SpaceConfig
from study.space import ask_grid_entry, describe, suggest


@pytest.fixture
def study():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))


def test_beta_only_for_models_with_a_beta(study):
    space = SpaceConfig(model_types=("ae", "vae", "beta_vae", "beta_tcvae"),
                        ranges={"beta_vae": {"beta": (1, 16)}, "beta_tcvae": {"beta": (1, 16)}}, latent_dims=(4, 10))
    seen = set()
    for _ in range(60):
        trial = study.ask()
        params = suggest(trial, space)
        seen.add(params["model_type"])
        if params["model_type"] in ("beta_vae", "beta_tcvae"):
            assert 1 <= params["beta"] <= 16
            # each model type's β is its own Optuna parameter: the sampler never pools them
            assert f"{params['model_type']}.beta" in trial.params and "beta" not in trial.params
        else:
            assert "beta" not in params and not any(k.endswith(".beta") for k in trial.params)
        assert params["latent_dim"] in (4, 10)
        assert "lr" not in params and "seed" not in params
        study.tell(trial, 0.0)
    assert seen == {"ae", "vae", "beta_vae", "beta_tcvae"}


def test_optional_lr_and_seed_dimensions(study):
    space = SpaceConfig(model_types=("vae",), latent_dims=(6,), lr_min=1e-4, lr_max=1e-2,
                        seed_as_param=True, seeds_per_config=3)
    trial = study.ask()
    params = suggest(trial, space)
    assert params["model_type"] == "vae" and params["latent_dim"] == 6
    assert 1e-4 <= params["lr"] <= 1e-2 and params["seed"] in (0, 1, 2)
    assert set(trial.params) == {"lr", "seed"}  # single-valued choices are fixed, not suggested


def test_grid_entries_recorded_exactly(study):
    grid = ({"model_type": "ae"}, {"model_type": "beta_vae", "beta": 5}, {"model_type": "beta_tcvae", "beta": 20})
    recorded = ({"model_type": "ae"}, {"model_type": "beta_vae", "beta_vae.beta": 5},
                {"model_type": "beta_tcvae", "beta_tcvae.beta": 20})
    for i, want in enumerate(recorded):
        trial = ask_grid_entry(study, grid, i)
        assert trial.params == want
        study.tell(trial, 0.0)


def test_describe_mentions_conditional_beta():
    text = "\n".join(describe(SpaceConfig(model_types=("ae", "beta_vae"))))
    assert "only for beta_vae" in text
