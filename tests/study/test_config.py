"""Config: presets load, YAML round trip, CLI overrides, and every invalid field's clear error."""

import dataclasses

import pytest
import yaml

from study import config as C


@pytest.mark.parametrize("name", ["quick", "dsprites"])
def test_presets_load_and_validate(name):
    cfg = C.make_config(name)
    assert cfg.trial.dataset == "dsprites"
    assert cfg.objective_directions() == {"recon_error": "min", "beta_vae_score": "max"}


def test_dsprites_preset_is_the_literature_setting():
    cfg = C.make_config("dsprites")
    assert (cfg.trial.latent_dim, cfg.trial.batch_size, cfg.trial.lr) == (10, 64, 1e-4)
    assert cfg.trial.likelihood == "bernoulli" and cfg.trial.metrics == "full"


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
    assert cfg.trial.latent_dim == 12 and cfg.trial.amp is True


BAD = [
    ({"space": {"model_types": ["vae", "factorvae"]}}, "space.model_types", "factorvae"),
    ({"trial": {"model_type": "gan"}}, "trial.model_type", "choose one of"),
    ({"trial": {"beta": 0}}, "trial.beta", "> 0"),
    ({"trial": {"beta": -2}}, "trial.beta", "> 0"),
    ({"space": {"beta_min": 0}}, "space.beta_min", "> 0"),
    ({"space": {"beta_min": 8, "beta_max": 2}}, "space.beta_max", ">= space.beta_min"),
    ({"trial": {"latent_dim": 0}}, "trial.latent_dim", ">= 1"),
    ({"space": {"latent_dims": [0, 4]}}, "space.latent_dims", ">= 1"),
    ({"trial": {"dataset": "celeba"}}, "trial.data_root", "--data-root"),
    ({"trial": {"dataset": "mnist", "data_root": "/no/such/folder"}}, "trial.data_root", "does not exist"),
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
    ({"space": {"mode": "grid", "grid": [{"model_type": "vae", "betta": 2}]}}, "space.grid[0].betta", "unknown"),
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
    for cls in (C.TrialConfig, C.SpaceConfig, C.SearchConfig, C.ResourcesConfig, C.StudyConfig):
        docs = C.field_docs(cls)
        assert set(docs) == {f.name for f in dataclasses.fields(cls)}, cls
        assert all(docs.values())
