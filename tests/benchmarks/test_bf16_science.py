"""benchmarks/bf16_science.py: the paired table and the verdict rule, from rows as its CSV holds them."""

import math

from benchmarks import bf16_science as B


def rows(shift: float) -> list[dict]:
    """Three seeds per model and precision; bf16 = fp32 + ``shift`` on every score of the VAE."""
    out = []
    for model in B.MODELS:
        for precision in B.PRECISIONS:
            for seed in range(3):
                scores = {s: 1.0 + 0.1 * seed + (shift if model == "vae" and precision == "bf16" else 0.0)
                          for s in B.SCORES}
                out.append({"model_type": model, "precision": precision, "seed": seed, "steps": 3000, **scores,
                            "train_seconds": 100.0, "images_per_second": 800.0 if precision == "bf16" else 400.0,
                            "trial_seconds": 120.0})
    return out


def test_the_verdict_follows_the_rule(tmp_path):
    text = B.table(rows(0.05))  # seed SD 0.1 ≥ 0.05: agrees
    assert "* vae: agrees (3 seeds)" in text and "* factor_vae: agrees (3 seeds)" in text
    assert "| vae | mig | 1.1000 ± 0.1000 | 1.1500 ± 0.1000 | +0.0500 [+0.0500, +0.0500] | yes |" in text
    assert "| vae | 400 | 800 | 2.00× | 120 | 120 |" in text
    text = B.table(rows(0.2))
    assert "* vae: DISAGREES (stays fp32 under amp auto) (3 seeds)" in text and "* beta_tcvae: agrees" in text


def test_rows_round_trip_through_the_csv_and_nan_blur_is_left_out(tmp_path):
    path = str(tmp_path / "rows.csv")
    data = rows(0.0)
    data[0]["blur"] = math.nan  # a collapsed model's blur
    for row in data:
        B.append_row(path, row)
    again = B.read_rows(path)
    assert len(again) == len(data) and again[1]["recon_error"] == data[1]["recon_error"]
    assert "| vae | blur | 1.1500 ± 0.0707 |" in B.table(again)
