"""Config: presets load, YAML round trip, CLI overrides, and every invalid field's clear error."""

import dataclasses

import pytest
import yaml

from study import config as C
from train import options as trial_options
from train.config import TrialConfig, field_docs
from train.data import record_name
from train.options import Amp
from train.validation import trial_from_dict, validate_trial


@pytest.mark.parametrize("name", ["quick", "dsprites"])
def test_presets_load_and_validate(name):
    cfg = C.make_config(name)
    assert cfg.trial.dataset == "dsprites"
    assert cfg.objective_directions() == {"recon_error": "min", "beta_vae_score": "max"}


def test_dsprites_preset_is_the_literature_setting():
    cfg = C.make_config("dsprites")
    assert (cfg.trial.latent_dim, cfg.trial.batch_size, cfg.trial.lr) == (10, 64, 1e-4)
    assert cfg.trial.likelihood == "bernoulli" and cfg.trial.metrics == "full"
    assert cfg.trial.architecture == "disentanglement_lib"  # Locatello et al.'s network


def test_architectures_are_the_registered_networks():
    from models.networks import ARCHITECTURES

    assert "disentanglement_lib" in ARCHITECTURES
    for name in ARCHITECTURES:
        assert trial_from_dict({"architecture": name}).architecture == name
    with pytest.raises(C.ConfigError, match="trial.architecture: unknown value 'dlib'; choose one of "
                                            + ", ".join(ARCHITECTURES)):
        trial_from_dict({"architecture": "dlib"})


def test_seed_celeba_preset_is_the_seed_report(tmp_path):
    cfg = C.make_config("seed-celeba", overrides={"trial": {"data_root": str(tmp_path)}})
    assert (cfg.trial.latent_dim, cfg.trial.batch_size, cfg.trial.lr) == (32, 128, 1e-4)
    assert cfg.trial.architecture == "seed_report"
    assert cfg.space.mode == "grid"
    grid = [dict(e) for e in cfg.space.grid]
    assert grid == [{"model_type": "ae"}, {"model_type": "vae"},
                    {"model_type": "beta_vae", "beta": 5}, {"model_type": "beta_tcvae", "beta": 20}]
    assert cfg.num_trials() == 4


def test_yaml_round_trip(tmp_path):
    cfg = C.make_config("quick", overrides={"space": {"latent_dims": [4, 8]}, "search": {"asha": True}})
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    again = C.make_config(None, str(path))
    assert again == cfg


def test_set_dotted_and_type_coercion():
    data = C.set_dotted({}, "trial.latent_dim", "12")
    data = C.set_dotted(data, "trial.amp", "true")
    cfg = C.make_config("quick", overrides=data)
    assert cfg.trial.latent_dim == 12 and cfg.trial.amp is Amp.ON


@pytest.mark.parametrize("value,expected", [(True, "true"), (False, "false"), ("auto", "auto"), ("AUTO", "auto"),
                                            ("true", "true"), ("False", "false")])
def test_amp_reads_yaml_booleans_and_auto(value, expected):
    cfg = C.make_config("quick", overrides={"trial": {"amp": value}})
    assert cfg.trial.amp is Amp(expected)
    assert C.make_config("quick").trial.amp is Amp.AUTO  # the default
    text = yaml.safe_dump(cfg.to_dict())  # the study's config.yaml: plain strings, read back the same
    assert C.from_dict(yaml.safe_load(text)).trial.amp is cfg.trial.amp


@pytest.mark.parametrize("value", ["bf16", 1, "maybe", None])
def test_a_bad_amp_names_the_field_and_the_choices(value):
    with pytest.raises(C.ConfigError, match=r"trial\.amp: .*(choose one of auto, true, false|must not be null)"):
        C.make_config("quick", overrides={"trial": {"amp": value}})
    with pytest.raises(C.ConfigError, match=r"trial\.amp: unknown value True; choose one of auto, true, false"):
        validate_trial(TrialConfig(amp=True))  # built in Python, unchecked by coercion


BAD = [
    ({"space": {"model_types": ["vae", "factorvae"]}}, "space.model_types", "factorvae"),
    ({"trial": {"model_type": "gan"}}, "trial.model_type", "choose one of"),
    ({"trial": {"model_params": {"beta_vae": {"beta": 0}}}}, "trial.model_params.beta_vae", "beta: must be > 0"),
    ({"trial": {"model_params": {"beta_vae": {"beta": -2}}}}, "trial.model_params.beta_vae", "beta: must be > 0"),
    ({"trial": {"model_params": {"beta_vae": {"gamma": 2}}}}, "trial.model_params.beta_vae.gamma",
     "not a setting of beta_vae; its settings are beta"),
    ({"trial": {"model_params": {"beta_tcvae": {"tc_estimator": "x"}}}}, "trial.model_params.beta_tcvae",
     "tc_estimator: unknown estimator"),
    ({"trial": {"model_params": {"gan": {"beta": 2}}}}, "trial.model_params", "unknown model type 'gan'"),
    ({"trial": {"beta": 4}}, "trial.beta", "it moved to trial.model_params.<type>.beta"),
    ({"space": {"beta_max": 8}}, "space.beta_max", "it moved to space.ranges.<type>.beta"),
    ({"space": {"ranges": {"beta_vae": {"beta": [0, 8]}}}}, "space.ranges.beta_vae.beta", "low > 0"),
    ({"space": {"ranges": {"beta_vae": {"beta": [8, 2]}}}}, "space.ranges.beta_vae.beta", "low <= high"),
    ({"space": {"ranges": {"vae": {"beta": [1, 2]}}}}, "space.ranges.vae.beta", "no searched hyperparameter"),
    ({"space": {"mode": "grid", "grid": [{"model_type": "beta_vae", "beta": -1}]}}, "space.grid[0].model_params",
     "beta: must be > 0"),
    ({"trial": {"latent_dim": 0}}, "trial.latent_dim", ">= 1"),
    ({"space": {"latent_dims": [0, 4]}}, "space.latent_dims", ">= 1"),
    ({"trial": {"dataset": "celeba"}}, "trial.data_root", "--data-root"),
    ({"trial": {"dataset": "mnist", "data_root": "/no/such/folder"}}, "trial.data_root", "does not exist"),
    ({"trial": {"dataset": "dsprites", "data_root": "/no/such/folder"}}, "trial.data_root",
     "or unset it for the procedural look-alike"),
    ({"trial": {"dataset": "smallnorb"}}, "trial.data_root", "--data-root"),
    ({"search": {"objectives": ["recon_error", "disentanglement"]}}, "search.objectives", "no metric produces"),
    ({"search": {"sampler": "cmaes"}}, "search.sampler", "tpe"),
    ({"search": {"asha": True, "asha_metric": "beta_vae_score"}}, "search.asha_metric", "not reported during training"),
    ({"resources": {"cpus": 0}}, "resources.cpus", "> 0"),
    ({"resources": {"gpus": -1}}, "resources.gpus", ">= 0"),
    ({"resources": {"gpus": 1.5}}, "resources.gpus", "whole GPUs"),
    ({"trial": {"lr": 0}}, "trial.lr", "> 0"),
    ({"trial": {"steps": "many"}}, "trial.steps", "cannot read"),
    ({"trial": {"batchsize": 64}}, "trial.batchsize", "unknown field"),
    ({"search": {"num_trials": 7}, "space": {"seeds_per_config": 2}}, "search.num_trials", "multiple"),
    ({"space": {"mode": "grid"}}, "space.grid", "at least one"),
    ({"space": {"mode": "grid", "grid": [{"model_type": "vae", "betta": 2}]}}, "space.grid[0].betta",
     "neither a trial field nor a setting of vae"),
    ({"trial": {"metrics": "recon"}}, "search.objectives", "trial.metrics"),
]


@pytest.mark.parametrize("overrides,field,fix", BAD, ids=[b[1] for b in BAD])
def test_invalid_field_names_field_and_fix(overrides, field, fix):
    with pytest.raises(C.ConfigError) as info:
        C.make_config("quick", overrides=overrides)
    message = str(info.value)
    assert message.startswith(field), message
    assert fix in message


def test_factor_metric_objective_needs_factors(tmp_path):
    with pytest.raises(C.ConfigError, match="search.objectives: 'beta_vae_score' needs ground-truth"):
        C.make_config("quick", overrides={"trial": {"dataset": "mnist", "data_root": str(tmp_path)}})


def test_unknown_preset_lists_known():
    with pytest.raises(C.ConfigError, match="preset: unknown preset 'fast'.*quick"):
        C.make_config("fast")


def test_cluster_resource_check():
    cfg = C.make_config("quick", overrides={"resources": {"gpus": 0.5}})
    with pytest.raises(C.ConfigError, match="resources.gpus: each trial asks for 0.5 GPU but the Ray cluster has 0"):
        C.check_cluster_resources(cfg, {"CPU": 2.0})
    C.check_cluster_resources(cfg, {"CPU": 2.0, "GPU": 1.0})
    with pytest.raises(C.ConfigError, match="resources.cpus"):
        C.check_cluster_resources(C.make_config("quick", overrides={"resources": {"cpus": 4}}), {"CPU": 2.0})


def test_field_docs_cover_every_field():
    for cls in (TrialConfig, C.SpaceConfig, C.SearchConfig, C.ResourcesConfig, C.StudyConfig):
        docs = field_docs(cls)
        assert set(docs) == {f.name for f in dataclasses.fields(cls)}, cls
        assert all(docs.values())


# Objectives that no trial of the study would compute (every trial would score NaN, be marked
# failed, and the study end without a front) are refused before Ray starts, naming the fix.


def refused(overrides, preset="quick"):
    with pytest.raises(C.ConfigError) as info:
        C.make_config(preset, overrides=overrides)
    return str(info.value)


def test_dci_objective_with_the_fast_preset_is_refused():
    message = refused({"search": {"objectives": ["recon_error", "dci_disentanglement"]}})
    assert message.startswith("search.objectives: 'dci_disentanglement'"), message
    assert "set trial.metrics to full" in message


def test_linear_probe_on_dsprites_is_refused():
    message = refused({"search": {"objectives": ["recon_error", "linear_probe_accuracy"]}})
    assert message.startswith("search.objectives: 'linear_probe_accuracy'"), message
    assert "trial.dataset=dsprites" in message and "use a factor metric such as" in message
    assert "mig" in message and "dci_" not in message  # only factor metrics the fast preset computes


def test_kl_objective_with_ae_in_the_search_space_is_refused():
    message = refused({"search": {"objectives": ["recon_error", "eval_kl"]}})
    assert message.startswith("search.objectives: 'eval_kl'"), message
    assert "remove ae from space.model_types" in message


def test_kl_objective_with_an_ae_grid_entry_is_refused():
    grid = [{"model_type": "vae"}, {"model_type": "ae"}]
    message = refused({"space": {"mode": "grid", "grid": grid}, "search": {"objectives": ["recon_error", "eval_kl"]}})
    assert message.startswith("search.objectives: 'eval_kl'"), message
    assert "remove the ae entry space.grid[1] from space.grid" in message


def test_kl_objective_with_a_grid_entry_inheriting_ae_is_refused():
    overrides = {"trial": {"model_type": "ae"}, "space": {"mode": "grid", "grid": [{"latent_dim": 4}]},
                 "search": {"objectives": ["recon_error", "eval_kl"]}}
    message = refused(overrides)
    assert message.startswith("search.objectives: 'eval_kl'"), message
    assert "(trial.model_type)" in message
    listed = message.split("set model_type in space.grid[0] to one of ")[1].split(", or drop")[0].split(", ")
    assert "vae" in listed and "beta_tcvae" in listed and "ae" not in listed


def test_dci_objective_with_a_fast_grid_entry_is_refused():
    grid = [{"model_type": "vae"}, {"model_type": "beta_vae", "beta": 4, "metrics": "fast"}]
    overrides = {"trial": {"metrics": "full"}, "space": {"mode": "grid", "grid": grid},
                 "search": {"objectives": ["recon_error", "dci_completeness"]}}
    message = refused(overrides)
    assert message.startswith("search.objectives: 'dci_completeness'"), message
    assert "set space.grid[1].metrics to full" in message


def test_uncomputed_asha_metric_is_refused(monkeypatch):
    # Only val_recon_error is reported during training today, and every trial computes it; the
    # same checks guard search.asha_metric should a KL curve ever become an intermediate metric.
    from study.config import validation

    monkeypatch.setattr(validation, "INTERMEDIATE_METRICS", ("val_recon_error", "eval_kl"))
    message = refused({"search": {"asha": True, "asha_metric": "eval_kl"}})
    assert message.startswith("search.asha_metric: 'eval_kl'"), message
    assert "remove ae from space.model_types" in message


def test_computable_objectives_pass(tmp_path):
    assert C.make_config("quick").search.objectives == ("recon_error", "beta_vae_score")
    full = C.make_config("dsprites", overrides={"search": {"objectives": ["recon_error", "dci_disentanglement"]}})
    assert full.objective_directions() == {"recon_error": "min", "dci_disentanglement": "max"}
    C.make_config("quick", overrides={"trial": {"metrics": "full"},
                                      "search": {"objectives": ["recon_error_sampled", "dci_completeness"]}})
    C.make_config("quick", overrides={"space": {"model_types": ["vae", "beta_tcvae"]},
                                      "search": {"objectives": ["recon_error", "eval_kl"]}})
    grid = [{"model_type": "vae"}, {"model_type": "beta_vae", "beta": 5}]
    C.make_config("quick", overrides={"space": {"mode": "grid", "grid": grid},
                                      "search": {"objectives": ["eval_kl", "mig"]}})
    C.make_config("quick", overrides={"search": {"asha": True}})
    celeba = C.make_config("seed-celeba", overrides={"trial": {"data_root": str(tmp_path)}})
    assert celeba.search.objectives == ("recon_error", "linear_probe_accuracy")  # ae in the grid: fine


def test_metric_declarations_are_consistent():
    every = set(C.METRIC_DIRECTIONS)
    assert set(C.PRESET_METRICS["full"]) == every
    assert every - set(C.PRESET_METRICS["fast"]) == {name for name in every if name.startswith("dci_")}
    assert every - set(C.PRESET_METRICS["recon"]) == set(C.FACTOR_METRICS) | set(C.PROBE_METRICS)
    assert set(C.FACTOR_METRICS + C.PROBE_METRICS + C.PROBABILISTIC_METRICS + C.INTERMEDIATE_METRICS) <= every
    assert C.METRIC_PRESETS == tuple(C.PRESET_METRICS)
    assert C.METRIC_DIRECTIONS["recon_error_sampled"] == "min"


def test_gaussian_variance_field():
    assert TrialConfig().gaussian_variance == 0.5
    assert C.make_config("quick", overrides={"trial": {"gaussian_variance": 2}}).trial.gaussian_variance == 2.0
    for bad in (0, -1, "inf", float("nan")):
        with pytest.raises(C.ConfigError) as info:
            C.make_config("quick", overrides={"trial": {"gaussian_variance": bad}})
        assert str(info.value).startswith("trial.gaussian_variance: must be a finite number > 0")


def test_seed_celeba_states_the_variance_its_betas_assume(tmp_path):
    assert "gaussian_variance" in C.load_preset("seed-celeba")["trial"]
    cfg = C.make_config("seed-celeba", overrides={"trial": {"data_root": str(tmp_path)}})
    assert cfg.trial.gaussian_variance == 0.5


def test_procedural_dsprites_is_recorded_under_its_own_name():
    assert record_name("dsprites") == "dsprites-procedural"
    assert record_name("celeba") == "celeba"
    assert set(trial_options.DATASET_RECORD_NAMES) == set(trial_options.DATASETS)
    assert record_name("dsprites", "/data") == "dsprites"  # the official file is read then
    assert record_name("color-dsprites", "/data") == "color-dsprites-procedural"
    assert record_name("scream-dsprites") == "scream-dsprites"


def test_config_dataset_lists_agree_with_the_registry_and_the_help():
    from train.data import DATASETS

    assert trial_options.DATASETS == tuple(DATASETS)
    assert {"scream-dsprites", "smallnorb", "cars3d"} <= (set(trial_options.FACTOR_DATASETS)
                                                          & set(trial_options.FOLDER_DATASETS))
    doc = " ".join(field_docs(TrialConfig)["dataset"].split())
    assert all(name in doc for name in trial_options.DATASETS), doc


def test_list_models_prints_every_declaration(capsys):
    from models import MODELS
    from study.run import main

    assert main(["--list-models"]) == 0
    out = capsys.readouterr().out
    for name, cls in MODELS.items():
        assert f"{name}: " in out
        for hp in cls.hyperparameters:
            assert f"  {hp.name} ({hp.label}): log-uniform [{hp.low:g}, {hp.high:g}]" in out
