"""The soak's Optuna invariant on stand-in records: a trial asked but never launched is accounted
for only when the searcher listed it (and no run points at it); anything else still breaks it."""

from types import SimpleNamespace

from analysis.schema import Tag, TrialStatus
from cluster.invariants import optuna_consistent


def run(number: int, status: TrialStatus = TrialStatus.COMPLETED):
    return SimpleNamespace(data=SimpleNamespace(tags={Tag.OPTUNA_TRIAL: str(number), Tag.TRIAL_STATUS: str(status)}))


def trial(number: int, state: str):
    return SimpleNamespace(number=number, state=SimpleNamespace(name=state))


def test_a_never_launched_trial_is_accounted_for_only_when_listed():
    runs = [run(0), run(1), run(3)]
    trials = [trial(0, "COMPLETE"), trial(1, "COMPLETE"), trial(2, "FAIL"), trial(3, "COMPLETE")]
    listed = optuna_consistent(runs, trials, 3, never_launched=[2])
    assert listed.ok and "never launched, FAIL: [2]" in listed.detail
    assert not optuna_consistent(runs, trials, 3).ok  # not listed: an extra trial
    assert not optuna_consistent(runs + [run(2, TrialStatus.FAILED)], trials, 3, never_launched=[2]).ok
    running = trials[:2] + [trial(2, "RUNNING"), trials[3]]  # listed but not final
    assert not optuna_consistent(runs, running, 3, never_launched=[2]).ok
