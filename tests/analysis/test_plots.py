"""Figures read back through matplotlib's objects: what the legend of the Pareto plot shows."""

import numpy as np
import pandas as pd

from analysis import plots


def test_pareto_legend_shows_every_model_type_at_full_size():
    # Only the AE is on the front; scatter sizes vary with the latent dim (40 to 160 pt²).
    rows = [("beta_tcvae", 6.0, 10, 140.0, 0.85), ("vae", None, 4, 100.0, 0.40), ("vae", None, 10, 130.0, 0.70),
            ("beta_vae", 4.0, 4, 120.0, 0.50), ("ae", None, 10, 80.0, 0.90), ("ae", None, 4, 90.0, 0.50)]
    df = pd.DataFrame([{"model_type": mt, "beta": np.nan if beta is None else beta, "latent_dim": dim,
                        "recon_error": recon, "beta_vae_score": score, "ok": True}
                       for mt, beta, dim, recon, score in rows])
    fig = plots.pareto_plot(df, "recon_error", "beta_vae_score")
    legend = fig.axes[0].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["AE", "VAE", "β-VAE", "β-TCVAE", "Pareto front"]  # the seed report's order
    handles = legend.legend_handles[:4]
    # marker sizes in points: every type at full size (a type without a front member used to get
    # an empty labelled scatter, drawn as a 1-px dot; the others the size of their smallest point)
    assert [h.get_markersize() for h in handles] == [plots.LEGEND_MARKERSIZE] * 4
    assert plots.LEGEND_MARKERSIZE >= 6
    assert [h.get_marker() for h in handles] == ["s", "o", "^", "D"]
    assert [h.get_markerfacecolor() for h in handles] == [plots.style(m)[0] for m in ("ae", "vae", "beta_vae",
                                                                                          "beta_tcvae")]
    plots.plt.close(fig)
