"""Each row's own searched hyperparameters, from its record (the hyperparameters tag)."""

import json

import numpy as np
import pandas as pd

from analysis import hyperparams
from analysis.pareto import seed_aggregate
from analysis.schema import Tag


def frame():
    tag = {"beta_vae": {"beta": "β"}, "annealed_vae": {"c_max": "C_max"}, "vae": {}}
    rows = [("beta_vae", 4.0, np.nan, 0), ("beta_vae", 4.0, np.nan, 1), ("annealed_vae", np.nan, 25.0, 0),
            ("annealed_vae", np.nan, 50.0, 0), ("vae", np.nan, np.nan, 0)]
    return pd.DataFrame([{"model_type": m, "beta": b, "c_max": c, "seed": s, "latent_dim": 10, "ok": True,
                          "recon_error": 100.0 + i, "mig": 0.1 * i, Tag.HYPERPARAMETERS: json.dumps(tag[m])}
                         for i, (m, b, c, s) in enumerate(rows)])


def test_text_and_columns_follow_each_rows_own_knobs():
    df = frame()
    assert [hyperparams.text(r) for _, r in df.iterrows()] == ["β=4", "β=4", "C_max=25", "C_max=50", ""]
    assert hyperparams.columns(df) == ["beta", "c_max"]
    assert list(hyperparams.with_text(df)[hyperparams.TEXT_COLUMN]) == ["β=4", "β=4", "C_max=25", "C_max=50", ""]


def test_rows_recorded_before_the_tag_read_beta_as_beta():
    row = pd.Series({"model_type": "beta_tcvae", "beta": 6.0})
    assert hyperparams.swept(row) == {"beta": "β"} and hyperparams.text(row) == "β=6"


def test_seed_groups_are_configurations_of_each_types_own_knob():
    agg = seed_aggregate(frame(), {"recon_error": "min", "mig": "max"})
    assert sorted(agg["recon_error_count"]) == [1, 1, 1, 2]  # the two β-VAE seeds form one group
