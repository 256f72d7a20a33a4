"""The study's console: scores printed with their standard errors."""

import pandas as pd

from analysis.schema import Tag, TrialStatus
from study.progress import config_text, summary_table, with_se


def test_with_se_formats_a_score_and_its_error():
    assert with_se({"mig": 0.12345, "mig_se": 0.0123}, "mig") == "0.1235 ± 0.012"
    assert with_se({"recon_error": 104.2}, "recon_error") == "104.2"
    assert with_se({"mig": float("nan")}, "mig") == ""


def test_summary_table_shows_blur_and_scores_with_their_se():
    df = pd.DataFrame([
        {Tag.TRIAL_ID: "t1", "run_id": "r1", "model_type": "ae", "seed": 0, Tag.TRIAL_STATUS: TrialStatus.COMPLETED,
         "recon_error": 100.0, "beta_vae_score": 0.7, "beta_vae_score_se": 0.014, "blur": 1.2, "blur_se": 0.05},
        {Tag.TRIAL_ID: "t2", "run_id": "r2", "model_type": "beta_vae", "beta": 16.0, "seed": 0,
         Tag.TRIAL_STATUS: TrialStatus.COMPLETED, "recon_error": 140.0, "beta_vae_score": 0.8,
         "beta_vae_score_se": 0.013, "blur": 2.9, "blur_se": 0.08},
    ])
    text = summary_table(df, {"recon_error": "min", "beta_vae_score": "max"}, {"r1"})
    lines = text.splitlines()
    assert "blur" in lines[0] and lines[0].index("beta_vae_score") < lines[0].index("blur")
    assert lines[1].startswith("*") and "0.7 ± 0.014" in lines[1] and "1.2 ± 0.05" in lines[1]
    assert "2.9 ± 0.08" in lines[2]


def test_a_trial_start_line_reads_its_searched_values():
    overrides = {"model_type": "beta_tcvae", "beta": 14.46657045453, "latent_dim": 6, "seed": 0}
    assert config_text(overrides) == "model_type=beta_tcvae beta=14.47 latent_dim=6 seed=0"
