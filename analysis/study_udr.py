"""UDR of a recorded study (Duan et al. 2020): compare the trials of each configuration across seeds.

Every completed trial logged the encoder means of the same held-out inputs and their KL per dim
(:attr:`analysis.schema.Artifact.UDR_CODES`). Trials that differ only in their seed form a group;
each member's UDR is the median of its pairwise agreement with the others
(:func:`analysis.metrics.udr_scores`). The score is written back to each child run as the metric
``udr`` (at the trial's last step), so ``python -m analysis pareto --y udr`` can draw it. A group of
one trial has no UDR. UDR needs no ground-truth factors: on CelebA it is the only disentanglement
score there is.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pandas as pd

from analysis import hyperparams
from analysis.runs import RunsError
from analysis.schema import Artifact

#: Columns that make two trials "the same configuration" (besides the model type's hyperparameters).
CONFIG_COLUMNS = ("model_type", "latent_dim", "lr", "architecture", "steps", "batch_size", "kl_warmup_steps",
                  "likelihood", "gaussian_variance", "dataset", "metrics")


def configuration_groups(df: pd.DataFrame) -> dict[tuple, list[int]]:
    """Completed trials grouped by configuration (every setting but the seed): key → row indices."""
    ok = df[df["ok"]]
    cols = [c for c in (*CONFIG_COLUMNS, *hyperparams.columns(ok)) if c in ok.columns]
    groups: dict[tuple, list[int]] = {}
    for index, row in ok.iterrows():
        key = tuple("–" if pd.isna(row[c]) else row[c] for c in cols)
        groups.setdefault(key, []).append(index)
    return groups


def _load_codes(client, run_id: str, folder: str) -> tuple[np.ndarray, np.ndarray | None] | None:
    try:
        path = client.download_artifacts(run_id, Artifact.UDR_CODES, folder)
    except Exception:  # a trial recorded before the codes artifact existed, or without artifacts
        return None
    with np.load(path) as blob:
        return blob["codes"], (blob["kl"] if "kl" in blob.files else None)


def study_udr(df: pd.DataFrame, tracking_uri: str, method: str = "spearman") -> pd.DataFrame:
    """UDR of every completed trial of ``df`` (a :func:`analysis.runs.load_runs` frame) with at
    least one other seed of its configuration; columns run_id, trial_id, group (size), udr."""
    from mlflow.tracking import MlflowClient

    from analysis.metrics import udr_scores

    client = MlflowClient(tracking_uri)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for key, indices in configuration_groups(df).items():
            loaded = {i: _load_codes(client, df.at[i, "run_id"], os.path.join(tmp, str(i))) for i in indices}
            members = [i for i, blob in loaded.items() if blob is not None]
            if len(members) < 2:
                continue
            kls = [loaded[i][1] for i in members]
            scores = udr_scores([loaded[i][0] for i in members], None if any(k is None for k in kls) else kls,
                                method=method)
            rows += [{"run_id": df.at[i, "run_id"], "trial_id": df.at[i, "trial_id"], "configuration": key,
                      "group": len(members), "udr": float(s)} for i, s in zip(members, scores, strict=True)]
    if not rows:
        raise RunsError("udr: no configuration has two completed trials with codes; run the study with "
                        "space.seeds_per_config >= 2 (UDR compares seeds of one configuration)")
    return pd.DataFrame(rows)


def write_back(scores: pd.DataFrame, df: pd.DataFrame, tracking_uri: str) -> None:
    """Log each trial's ``udr`` to its child run at the trial's last step."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    steps = dict(zip(df["run_id"], df.get("steps_done", pd.Series([0] * len(df))), strict=True))
    for run_id, value in zip(scores["run_id"], scores["udr"], strict=True):
        step = steps.get(run_id)
        client.log_metric(run_id, "udr", float(value), step=int(step) if step == step and step is not None else 0)
