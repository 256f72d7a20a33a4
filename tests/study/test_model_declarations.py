"""Every model type's declaration is the one source: space, validation and logging agree with it."""

import math

import optuna
import pytest

from models import MODELS
from models.registry import model_settings
from study.config import ConfigError, SpaceConfig, make_config
from study.space import suggest
from study.trainable import hyperparameters_tag, logged_params
from train.validation import trial_from_dict

TYPES = sorted(MODELS)


@pytest.mark.parametrize("model_type", TYPES)
def test_the_search_space_asks_exactly_the_declared_knobs(model_type):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    declared = MODELS[model_type].hyperparameters
    for _ in range(20):
        trial = study.ask()
        params = suggest(trial, SpaceConfig(model_types=(model_type,)))
        assert set(trial.params) == {f"{model_type}.{hp.name}" for hp in declared}
        for hp in declared:
            assert hp.low <= params[hp.name] <= hp.high
        study.tell(trial, 0.0)


@pytest.mark.parametrize("model_type", TYPES)
def test_validation_accepts_the_paper_grid_and_refuses_nonsense(model_type):
    cls = MODELS[model_type]
    assert all(hp.name in model_settings(model_type) for hp in cls.hyperparameters)
    space = SpaceConfig(mode="paper_grid", model_types=(model_type,))
    entries = space.configurations()
    assert len(entries) == max(1, math.prod(len(hp.grid) for hp in cls.hyperparameters))
    for entry in entries:
        trial_from_dict(entry)  # every paper-grid value is a valid setting
    for hp in cls.hyperparameters:
        with pytest.raises(ConfigError, match=f"model_params.{model_type}: {hp.name}"):
            trial_from_dict({"model_type": model_type, hp.name: -1.0})
    with pytest.raises(ConfigError, match=f"not a setting of {model_type}"):
        trial_from_dict({"model_type": model_type, "no_such_knob": 1.0})


@pytest.mark.parametrize("model_type", TYPES)
def test_logged_params_and_tag_name_the_declared_knobs(model_type):
    declared = MODELS[model_type].hyperparameters
    config = make_config("quick").trial.with_updates(model_type=model_type)
    params = logged_params(config, ())
    for hp in declared:
        assert params[hp.name] == hp.default
    assert "model_params" not in params
    assert hyperparameters_tag(config) == ("{" + ", ".join(f'"{hp.name}": "{hp.label}"' for hp in declared) + "}")
