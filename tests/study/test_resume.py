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
