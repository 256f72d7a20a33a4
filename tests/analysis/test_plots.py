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


def _large_study(n: int, seed: int = 0) -> pd.DataFrame:
    g = np.random.default_rng(seed)
    types = np.array(["vae", "beta_vae", "beta_tcvae"])[g.integers(0, 3, n)]
    return pd.DataFrame({"model_type": types, "beta": np.where(types == "vae", np.nan, g.uniform(1, 16, n)),
                         "latent_dim": g.choice([6, 10], n), "recon_error": g.normal(110, 5, n),
                         "recon_error_se": 1.7, "beta_vae_score": g.uniform(0.5, 0.9, n),
                         "beta_vae_score_se": 0.01, "seed": 0, "ok": True})


def test_a_large_study_labels_only_its_front_and_keeps_the_legend_off_the_points(tmp_path):
    df = _large_study(2 * plots.MANY_POINTS)
    fig = plots.pareto_plot(df, "recon_error", "beta_vae_score", out=str(tmp_path / "pareto"))
    ax = fig.axes[0]
    front = plots.non_dominated_mask(df[["recon_error", "beta_vae_score"]].to_numpy(), ["min", "max"])
    labelled = front & (df["model_type"] != "vae").to_numpy()  # the VAE has no hyperparameter to label
    assert len(ax.texts) - 1 == labelled.sum() > 0  # one text is the "marker size ∝ latent dim" note
    legend = ax.get_legend()
    assert legend.get_bbox_to_anchor().x0 > ax.get_window_extent().x1  # right of the axes
    # the faded clouds are pixels inside the SVG, not a path per point
    assert any(c.get_rasterized() for c in ax.collections)
    assert (tmp_path / "pareto.svg").stat().st_size < 2_000_000
    plots.plt.close(fig)


def test_a_small_study_labels_every_trial_and_lets_matplotlib_place_the_legend():
    df = _large_study(20)
    fig = plots.pareto_plot(df, "recon_error", "beta_vae_score")
    ax = fig.axes[0]
    assert len(ax.texts) - 1 == (df["model_type"] != "vae").sum()
    fig.canvas.draw()  # placed where it hides the fewest points: inside the axes
    inside, legend = ax.get_window_extent(), ax.get_legend().get_window_extent()
    assert inside.x0 <= legend.x0 and legend.x1 <= inside.x1 and inside.y0 <= legend.y0 and legend.y1 <= inside.y1
    assert not any(c.get_rasterized() for c in ax.collections)
    plots.plt.close(fig)


def test_seed_spread_draws_one_bar_per_configuration_in_few_calls():
    df = _large_study(2 * plots.MANY_POINTS, seed=1)
    agg = plots.seed_means(df, {"recon_error": "min", "beta_vae_score": "max"})
    fig = plots.seed_spread_plot(agg, {"recon_error": "min", "beta_vae_score": "max"})
    ax = fig.axes[0]
    assert len(ax.containers) <= 2 * agg["model_type"].nunique()  # one errorbar per type and front membership
    assert sum(len(bars.lines[0].get_xdata()) for bars in ax.containers) == len(agg)
    plots.plt.close(fig)
