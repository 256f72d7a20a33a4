"""TPE's bounded history: which trials it keeps, that it changes nothing below the limit, and the
config field that sets it."""

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from study.config import ConfigError, SpaceConfig, make_config
from study.sampler_history import HistoryCappedSampler, capped
from study.search import make_sampler
from study.space import suggest

SPACE = SpaceConfig(model_types=("vae", "beta_vae", "beta_tcvae"), latent_dims=(6, 10))


def study_with(values, running=0):
    study = optuna.create_study(directions=["minimize", "maximize"])
    dist = optuna.distributions.FloatDistribution(0, 1)
    for i, v in enumerate(values):
        study.add_trial(create_trial(params={"x": i / len(values)}, distributions={"x": dist}, values=v))
    for _ in range(running):
        study.ask({"x": dist})
    return study


def test_capped_keeps_the_best_half_then_the_most_recent_and_every_running_trial():
    # trial i: loss 100 - i (min), score 0 (max): the oldest trial is worst, so rank = recency...
    values = [[100.0 - i, 0.0] for i in range(30)]
    values[3] = [0.0, 1.0]  # ...except trial 3, which dominates all
    study = study_with(values, running=2)
    trials = study.get_trials(deepcopy=False)
    kept = capped(trials, study.directions, limit=10)
    numbers = [t.number for t in kept if t.state == TrialState.COMPLETE]
    assert len(numbers) == 10 and 3 in numbers  # the best trial, though old
    assert set(range(21, 30)) <= set(numbers)  # and the most recent
    assert sum(t.state == TrialState.RUNNING for t in kept) == 2
    assert capped(trials, study.directions, limit=40) == trials  # below the limit: everything


def run_search(sampler, n=24):
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=sampler)
    for _ in range(n):
        trial = study.ask()
        params = suggest(trial, SPACE)
        beta = params.get("beta", 1.0)
        study.tell(trial, [beta + params["latent_dim"], -beta])
    return [t.params for t in study.trials]


def test_below_the_limit_tpe_suggests_exactly_what_it_did_before():
    assert run_search(make_sampler("tpe", 3, history_limit=1000)) == run_search(make_sampler("tpe", 3))


def test_a_capped_tpe_searches_the_conditional_space_past_its_limit():
    sampler = make_sampler("tpe", 0, history_limit=20)
    assert isinstance(sampler, HistoryCappedSampler)
    params = run_search(sampler, n=60)
    assert len(params) == 60 and {p["model_type"] for p in params[30:]} <= set(SPACE.model_types)
    assert not isinstance(make_sampler("nsga2", 0, history_limit=20), HistoryCappedSampler)


def test_history_limit_is_configured_and_validated():
    assert make_config("quick").search.history_limit == 1000
    assert make_config("quick", overrides={"search": {"history_limit": 0}}).search.history_limit == 0
    with pytest.raises(ConfigError, match="search.history_limit"):
        make_config("quick", overrides={"search": {"history_limit": 5}})


@pytest.mark.parametrize("objectives", [1, 2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_ranks_agree_with_optunas_own_ranking(objectives, seed):
    """analysis.pareto's ranking replaced Optuna's private one here; that one is the oracle."""
    import numpy as np
    from optuna.study._multi_objective import _fast_non_domination_rank

    from analysis.pareto import non_dominated_ranks

    g = np.random.default_rng(seed)
    losses = g.integers(0, 8, size=(300, objectives)).astype(float)  # ties and duplicates
    losses[:20] = g.normal(size=(20, objectives))
    senses = ["min"] * objectives
    full = _fast_non_domination_rank(losses)
    assert np.array_equal(non_dominated_ranks(losses, senses), full)
    for n_below in (1, 10, 150):  # stopping early: the n_below best rows are the same, in the same order
        ours = non_dominated_ranks(losses, senses, n_below)
        assert np.array_equal(np.argsort(ours, kind="stable")[:n_below], np.argsort(full, kind="stable")[:n_below])
