"""The Optuna ask/tell searcher: repeats, pruned vs complete vs failed, grid, save/restore."""

import optuna
import pytest
from optuna.trial import TrialState

from analysis.schema import FINAL_REPORT_KEY as FINAL
from analysis.schema import NEVER_LAUNCHED, Tag, TrialStatus
from study.config import SpaceConfig
from study.search import COMPLETED, FAILED, PRUNED, OptunaStudySearcher, classify

OBJ = {"recon_error": "min", "beta_vae_score": "max"}


def make(tmp_path, **space):
    return OptunaStudySearcher("s", f"sqlite:///{tmp_path / 'optuna.db'}", OBJ,
                               SpaceConfig(**space), sampler="random", sampler_seed=0)


def final(recon, score):
    return {"recon_error": recon, "beta_vae_score": score, FINAL: 1, Tag.TRIAL_STATUS: TrialStatus.COMPLETED}


def load(tmp_path):
    return optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}")


def test_classify():
    assert classify(final(1, 1), error=False) == COMPLETED
    assert classify({"val_recon_error": 3.0, FINAL: 0}, error=False) == PRUNED
    assert classify({FINAL: 1, Tag.TRIAL_STATUS: TrialStatus.DIVERGED}, error=False) == FAILED
    assert classify(None, error=True) == FAILED


def test_directions_and_metric_names(tmp_path):
    s = make(tmp_path)
    s.suggest("t0")
    study = load(tmp_path)
    assert [d.name for d in study.directions] == ["MINIMIZE", "MAXIMIZE"]
    assert study.metric_names == ["recon_error", "beta_vae_score"]


def test_repeated_seeds_share_one_optuna_trial_told_the_mean(tmp_path):
    s = make(tmp_path, seeds_per_config=3, model_types=("beta_vae",))
    configs = [s.suggest(f"t{i}") for i in range(6)]
    assert [c["overrides"]["seed"] for c in configs] == [0, 1, 2, 0, 1, 2]
    assert configs[0]["optuna_trial"] == configs[2]["optuna_trial"] != configs[3]["optuna_trial"]
    assert configs[0]["overrides"]["beta"] == configs[1]["overrides"]["beta"]
    s.on_trial_complete("t0", final(10.0, 0.5))
    s.on_trial_complete("t1", final(20.0, 0.7))
    assert load(tmp_path).trials[0].state == TrialState.RUNNING  # a seed is still out
    s.on_trial_complete("t2", final(30.0, 0.9))
    t = load(tmp_path).trials[0]
    assert t.state == TrialState.COMPLETE
    assert t.values == pytest.approx([20.0, 0.7])
    assert t.user_attrs["per_seed"]["2"]["values"] == [30.0, 0.9]


def test_early_stopped_trial_is_pruned_never_complete(tmp_path):
    s = make(tmp_path)
    s.suggest("a"), s.suggest("b"), s.suggest("c")
    s.on_trial_result("a", {"val_recon_error": 5.0, "final": 0})
    s.on_trial_complete("a", {"val_recon_error": 5.0, FINAL: 0, Tag.TRIAL_STATUS: TrialStatus.RUNNING})
    s.on_trial_complete("b", {FINAL: 1, Tag.TRIAL_STATUS: TrialStatus.DIVERGED})
    s.on_trial_complete("c", None, error=True)
    states = [t.state for t in load(tmp_path).trials]
    assert states == [TrialState.PRUNED, TrialState.FAIL, TrialState.FAIL]
    assert all(t.values is None for t in load(tmp_path).trials)


def test_nan_objective_is_a_failure(tmp_path):
    s = make(tmp_path)
    s.suggest("a")
    s.on_trial_complete("a", final(float("nan"), 0.5))
    assert load(tmp_path).trials[0].state == TrialState.FAIL


def test_grid_mode_yields_exactly_the_grid(tmp_path):
    grid = ({"model_type": "ae"}, {"model_type": "beta_vae", "beta": 5.0})
    s = make(tmp_path, mode="grid", grid=grid, seeds_per_config=2)
    got = [s.suggest(f"t{i}") for i in range(4)]
    assert [c["overrides"] for c in got] == [
        {"model_type": "ae", "seed": 0}, {"model_type": "ae", "seed": 1},
        {"model_type": "beta_vae", "beta": 5.0, "seed": 0}, {"model_type": "beta_vae", "beta": 5.0, "seed": 1}]
    assert s.suggest("t4") == "FINISHED"
    # the Optuna study records a model type's hyperparameter under its own name (beta_vae.beta)
    assert [t.params for t in load(tmp_path).trials] == [{"model_type": "ae"},
                                                         {"model_type": "beta_vae", "beta_vae.beta": 5.0}]


def test_save_restore_keeps_bookkeeping_and_fails_stale_running(tmp_path):
    s = make(tmp_path, seeds_per_config=2)
    s.suggest("a"), s.suggest("b")
    s.on_trial_complete("a", final(1.0, 0.5))
    path = tmp_path / "searcher.pkl"
    s.save(str(path))
    # The driver dies after asking Optuna for a configuration that no Tune trial received.
    s.study.ask()
    restored = make(tmp_path, seeds_per_config=2)
    restored.restore(str(path))
    states = [t.state for t in load(tmp_path).trials]
    assert states == [TrialState.RUNNING, TrialState.FAIL]
    assert load(tmp_path).user_attrs[NEVER_LAUNCHED] == [1]  # told apart from a trial that ran and failed
    restored.on_trial_complete("b", final(3.0, 0.7))
    trials = load(tmp_path).trials
    assert trials[0].state == TrialState.COMPLETE and trials[0].values == pytest.approx([2.0, 0.6])
    assert len(trials) == 2


def test_a_repeated_suggestion_gets_fresh_seeds(tmp_path):
    s = make(tmp_path, model_types=("ae",), seeds_per_config=2)  # the space is a single point
    seeds = [s.suggest(f"t{i}")["overrides"]["seed"] for i in range(6)]
    assert seeds == [0, 1, 2, 3, 4, 5]


def _concurrent_distinct(tmp_path, liar: bool, seed: int) -> int:
    """Distinct configurations among 4 suggestions in flight, after 6 finished trials (TPE)."""
    s = OptunaStudySearcher("s", f"sqlite:///{tmp_path / f'liar-{liar}-{seed}.db'}", OBJ,
                            SpaceConfig(model_types=("ae", "vae"), latent_dims=(2, 4, 6, 8, 10, 12)),
                            sampler="tpe", sampler_seed=seed, constant_liar=liar)
    for i in range(6):
        dim = s.suggest(f"t{i}")["overrides"]["latent_dim"]
        s.on_trial_complete(f"t{i}", final(float(dim), dim / 12))
    in_flight = [s.suggest(f"u{i}")["overrides"] for i in range(4)]
    return len({(o["model_type"], o["latent_dim"]) for o in in_flight})


def test_constant_liar_spreads_concurrent_suggestions(tmp_path):
    # 12 configurations, 4 in flight: with the liar TPE never hands out one twice; without it, it
    # repeats its current favourite (seen for these seeds: 1 or 2 distinct of 4)
    assert [_concurrent_distinct(tmp_path, True, seed) for seed in range(4)] == [4, 4, 4, 4]
    assert min(_concurrent_distinct(tmp_path, False, seed) for seed in range(4)) < 4


def test_an_outcome_optuna_cannot_store_is_told_later_never_raised_into_tune(tmp_path, monkeypatch):
    """A full disk under the Optuna storage: on_trial_complete keeps the outcome (raising would make
    Tune retry the trial and its concurrency limiter lose count), the next suggestion stops the study
    with the storage's error, and the outcome is told once the storage takes it (here: a restore)."""
    import sqlite3

    s = make(tmp_path)
    s.suggest("t0")
    real_tell = s.study.tell

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(s.study, "tell", full)
    s.on_trial_complete("t0", final(1.0, 0.5))  # does not raise
    with pytest.raises(RuntimeError, match="disk is full"):
        s.suggest("t1")
    assert load(tmp_path).trials[0].state == TrialState.RUNNING
    monkeypatch.setattr(s.study, "tell", real_tell)
    s.save(str(tmp_path / "searcher.pkl"))
    restored = make(tmp_path)
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert load(tmp_path).trials[0].state == TrialState.COMPLETE
    assert restored.suggest("t1") is not None
