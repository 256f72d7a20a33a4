"""What ``--resume NAME`` may change, checked before any Ray, MLflow or Optuna work (no services)."""

import pytest

from study import driver
from study.config import make_config
from study.run import main
from tests.study.conftest import TINY_TRIAL


def saved_study(root, name, **sections):
    """A study folder holding only its saved config, as the driver writes it."""
    overrides = {"name": name, "root": str(root), "trial": dict(TINY_TRIAL),
                 "search": {"num_trials": 2, "objectives": ["recon_error", "recon_mse"]}}
    for key, value in sections.items():
        overrides[key] = {**overrides.get(key, {}), **value}
    cfg = make_config("quick", overrides=overrides)
    driver.save_config(cfg)
    return cfg


@pytest.fixture
def no_study_run(monkeypatch):
    """Fail the test if the study would start: every refusal must come before."""
    def refuse(*args, **kwargs):
        raise AssertionError("run_study was called")

    monkeypatch.setattr("study.run.run_study", refuse)


def test_resume_refuses_steps_and_names_the_fix(isolated_env, capsys, no_study_run):
    root = isolated_env / "runs"
    saved_study(root, "sig")
    assert main(["--resume", "sig", "--root", str(root), "--steps", "5000"]) == 2
    err = capsys.readouterr().err
    assert "resume: --steps (trial.steps) cannot change when study 'sig' is resumed" in err
    assert "60 → 5000" in err and "--name NEW" in err and "--num-trials" in err
    assert main(["--resume", "sig", "--root", str(root), "--latent-dims", "4,8", "--model-types", "vae",
                 "--objectives", "recon_error"]) == 2
    err = capsys.readouterr().err
    for option in ("--latent-dims (space.latent_dims)", "--model-types (space.model_types)",
                   "--objectives (search.objectives)"):
        assert option in err
    assert main(["--resume", "sig", "--root", str(root), "--set", "trial.seed=3"]) == 2
    assert "trial.seed: 0 → 3" in capsys.readouterr().err
    assert main(["--resume", "sig", "--root", str(root), "--preset", "quick"]) == 2
    assert "--preset cannot be given with --resume" in capsys.readouterr().err
    assert not (root / "mlflow.db").exists() and not (root / "sig" / "optuna.db").exists()


def test_resume_refuses_fewer_trials_and_seeds_in_the_wrong_mode(isolated_env, capsys, no_study_run):
    root = isolated_env / "runs"
    saved_study(root, "sig")
    assert main(["--resume", "sig", "--root", str(root), "--num-trials", "1"]) == 2
    assert "--num-trials (search.num_trials) 1 is below the study's 2" in capsys.readouterr().err
    assert main(["--resume", "sig", "--root", str(root), "--seeds-per-config", "2", "--num-trials", "4"]) == 2
    assert "add trials with --num-trials" in capsys.readouterr().err
    grid = [{"model_type": "ae"}, {"model_type": "vae"}]
    saved_study(root, "g", space={"mode": "grid", "grid": grid, "seeds_per_config": 2})
    assert main(["--resume", "g", "--root", str(root), "--num-trials", "9"]) == 2
    assert "add seeds with --seeds-per-config" in capsys.readouterr().err
    assert main(["--resume", "g", "--root", str(root), "--seeds-per-config", "1"]) == 2
    assert "--seeds-per-config (space.seeds_per_config) 1 is below the study's 2" in capsys.readouterr().err


def test_resume_accepts_growth_resources_and_unchanged_values(isolated_env, capsys):
    root = isolated_env / "runs"
    saved_study(root, "sig")
    assert main(["--resume", "sig", "--root", str(root), "--num-trials", "5", "--max-concurrent", "1",
                 "--cpus", "2", "--steps", "60", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "num_trials: 5" in out and "max_concurrent: 1" in out and "# trials: 5;" in out
    grid = [{"model_type": "ae"}, {"model_type": "vae"}]
    saved_study(root, "g", space={"mode": "grid", "grid": grid, "seeds_per_config": 2})
    assert main(["--resume", "g", "--root", str(root), "--seeds-per-config", "3", "--dry-run"]) == 0
    assert "# trials: 6;" in capsys.readouterr().out


def _stage_one(tmp_path, space):
    """A finished first stage: every suggestion made and completed."""
    from study.search import OptunaStudySearcher

    searcher = OptunaStudySearcher("s", f"sqlite:///{tmp_path / 'optuna.db'}", {"recon_error": "min"}, space,
                                   sampler="random", sampler_seed=0)
    handed = _drain(searcher, "a")
    return handed, [t for t in _load(tmp_path).get_trials()]


def _drain(searcher, prefix, limit=50):
    """Suggest until the searcher is finished (or ``limit``), completing each trial at once."""
    from analysis.schema import FINAL_REPORT_KEY, Tag, TrialStatus
    from study.search import OptunaStudySearcher

    handed = []
    for i in range(limit):
        suggestion = searcher.suggest(f"{prefix}{i}")
        if suggestion is OptunaStudySearcher.FINISHED:
            break
        if suggestion is None:
            continue
        handed.append((suggestion["overrides"], suggestion["optuna_trial"]))
        searcher.on_trial_complete(f"{prefix}{i}", {"recon_error": 1.0, FINAL_REPORT_KEY: 1,
                                                    Tag.TRIAL_STATUS: TrialStatus.COMPLETED})
    return handed


def _load(tmp_path):
    import optuna

    return optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}")


def test_grid_extension_runs_only_the_missing_seeds_of_every_configuration(tmp_path):
    from study.config import SpaceConfig
    from study.extend import ExtensionSearcher, grid_plan, made_seeds

    grid = ({"model_type": "ae"}, {"model_type": "beta_vae", "beta": 4.0})
    handed, trials = _stage_one(tmp_path, SpaceConfig(mode="grid", grid=grid, seeds_per_config=2))
    assert len(handed) == 4 and len(trials) == 2
    wider = SpaceConfig(mode="grid", grid=grid, seeds_per_config=4)
    plan = grid_plan(wider.configurations(), 4, made_seeds(trials))
    assert plan == [(0, [2, 3]), (1, [2, 3])]
    searcher = ExtensionSearcher("s", f"sqlite:///{tmp_path / 'optuna.db'}", {"recon_error": "min"}, wider,
                                 sampler="random", sampler_seed=1000, taken_ids={"b0"}, plan=plan)
    more = _drain(searcher, "b")
    assert [(o["model_type"], o["seed"], n) for o, n in more] == [("ae", 2, 2), ("ae", 3, 2),
                                                                  ("beta_vae", 2, 3), ("beta_vae", 3, 3)]
    assert searcher.suggest("b0") is None  # an id an earlier stage used is never handed out again
    study = _load(tmp_path)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert [t.user_attrs["seeds"] for t in study.trials] == [[0, 1], [0, 1], [2, 3], [2, 3]]
    assert grid_plan(wider.configurations(), 4, made_seeds(study.trials)) == []  # nothing missing any more


def test_search_extension_gives_a_repeated_configuration_fresh_seeds(tmp_path):
    from study.config import SpaceConfig
    from study.extend import ExtensionSearcher, repeats

    space = SpaceConfig(model_types=("ae",), latent_dims=(4,))  # a single point: every suggestion repeats it
    first = _searched(tmp_path, space, 2)
    assert [o["seed"] for o, _n in first] == [0, 1]
    trials = _load(tmp_path).get_trials()
    searcher = ExtensionSearcher("s", f"sqlite:///{tmp_path / 'optuna.db'}", {"recon_error": "min"}, space,
                                 sampler="random", sampler_seed=1000, config_runs=repeats(trials))
    more = _drain(searcher, "b", limit=2)
    assert [o["seed"] for o, _n in more] == [2, 3] and [n for _o, n in more] == [2, 3]


def _searched(tmp_path, space, count):
    from study.search import OptunaStudySearcher

    searcher = OptunaStudySearcher("s", f"sqlite:///{tmp_path / 'optuna.db'}", {"recon_error": "min"}, space,
                                   sampler="random", sampler_seed=0)
    return _drain(searcher, "a", limit=count)
