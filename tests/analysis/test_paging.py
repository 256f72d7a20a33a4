"""Run listings page through every result: a real SQLite MLflow store, a page of 4 runs, studies of
more runs than a page, and nothing cut (the reads used to stop at ``max_results``)."""

import pytest
from mlflow.tracking import MlflowClient

from analysis import paging
from analysis.runs import list_studies, load_runs
from analysis.schema import Tag, TrialStatus
from study import tracking

pytestmark = pytest.mark.integration

TRIALS = 11


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Two studies of 11 finished trials each (and one running trial in the first), page size 4."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(paging, "PAGE_SIZE", 4)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parents = {}
    for study in ("a", "b"):
        parents[study] = tracking.start_study_run(uri, "betasweep", study, {}, {})
        for i in range(TRIALS + (study == "a")):
            t = tracking.TrialTracker(uri, "betasweep", parents[study], study, f"{study}{i}")
            t.start({"model_type": "vae", "latent_dim": 4, "seed": i})
            if i < TRIALS:
                t.log_final({"recon_error": float(i), "steps_done": 10.0})
                t.finish(TrialStatus.COMPLETED)
    return uri, parents


def test_search_all_runs_follows_the_page_token(store):
    uri, parents = store
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("betasweep").experiment_id
    query = f"tags.{Tag.PARENT_RUN} = '{parents['a']}'"
    assert len(client.search_runs([exp], query, max_results=4)) == 4  # one page: what a cut would keep
    runs = paging.search_all_runs(client, [exp], query)
    assert len(runs) == TRIALS + 1 and len({r.info.run_id for r in runs}) == TRIALS + 1


def test_studies_and_trials_are_read_whole(store):
    uri, parents = store
    df = load_runs("a", tracking_uri=uri)
    assert len(df) == TRIALS + 1 and sorted(df["recon_error"].dropna()) == [float(i) for i in range(TRIALS)]
    studies = list_studies(uri).set_index(Tag.STUDY)
    assert studies.loc["a", "trials"] == TRIALS + 1 and studies.loc["b", "trials"] == TRIALS
    assert studies.loc["a", "parent_run_id"] == parents["a"]


def test_close_abandoned_closes_every_running_trial(store, monkeypatch):
    uri, parents = store
    monkeypatch.setattr(paging, "PAGE_SIZE", 1)
    assert tracking.close_abandoned(uri, parents["a"]) == [f"a{TRIALS}"]
    df = load_runs("a", tracking_uri=uri)
    assert (df[Tag.TRIAL_STATUS] == TrialStatus.ABANDONED).sum() == 1
