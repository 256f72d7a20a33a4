"""Shared helpers for the study integration tests: tiny budgets, isolated Ray and MLflow."""

import os

from analysis.schema import Role, Tag

#: A trial budget small enough for CI yet real: trains, reports, checkpoints, scores.
TINY_TRIAL = {
    "latent_dim": 4, "batch_size": 32, "lr": 1e-3, "steps": 60, "report_every": 20,
    "checkpoint_every": 40, "val_size": 64, "eval_size": 128, "metrics": "fast", "kl_warmup_steps": 20,
}


def child_runs(tracking_uri, study):
    """MLflow child runs (role=trial) of a study, via the public client."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("betasweep")
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id], f"tags.{Tag.STUDY} = '{study}' and tags.{Tag.ROLE} = '{Role.TRIAL}'",
                              max_results=1000)


def parent_runs(tracking_uri, study):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("betasweep")
    return client.search_runs([exp.experiment_id], f"tags.{Tag.STUDY} = '{study}' and tags.{Tag.ROLE} = '{Role.STUDY}'")


def optuna_trials(root, study):
    """The study's Optuna trials, read without writing: the storage is never created or migrated
    from here (a study being started may be creating it at this moment)."""
    import optuna

    storage = optuna.storages.RDBStorage(f"sqlite:///{os.path.join(root, study, 'optuna.db')}",
                                         skip_table_creation=True)
    return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
