"""Figures of a study (matplotlib, Agg): each function returns the Figure and, given ``out`` (a path
without extension), writes ``out.png`` and ``out.svg``.

Conventions shared by every figure: one colour and marker per model type (the same in every
figure), axis labels with units and the better direction, a title with the study name and the
number of trials, failed/diverged/pruned trials counted in a footnote but never plotted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis import hyperparams  # noqa: E402
from analysis.pareto import hypervolume_progress, non_dominated_mask, seed_aggregate  # noqa: E402
from analysis.runs import UNSUCCESSFUL  # noqa: E402
from analysis.schema import CATALOGUE, arrow, metric_label, se_name  # noqa: E402

MODEL_STYLE = {
    "ae": ("#7f7f7f", "s", "AE"),
    "vae": ("#1f77b4", "o", "VAE"),
    "beta_vae": ("#d62728", "^", "β-VAE"),
    "beta_tcvae": ("#2ca02c", "D", "β-TCVAE"),
    "annealed_vae": ("#ff7f0e", "v", "AnnealedVAE"),
    "factor_vae": ("#9467bd", "P", "FactorVAE"),
    "dip_vae_i": ("#8c564b", "X", "DIP-VAE-I"),
    "dip_vae_ii": ("#e377c2", "*", "DIP-VAE-II"),
}
_EXTRA_COLOURS = ["#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]

#: Axis label (with unit) of every catalogued metric: a view of :data:`analysis.schema.CATALOGUE`.
LABELS = {m.name: m.label for m in CATALOGUE}


#: Marker size (points) of every model type in a legend, whatever the plotted sizes.
LEGEND_MARKERSIZE = 8.0

#: Up to this many trials every point carries its hyperparameter label; beyond it only the front's
#: do (10,000 labels are unreadable and took ~20 s to place).
ANNOTATE_ALL_UP_TO = 60

#: Beyond this many points a figure's legend sits outside the axes (matplotlib's ``loc="best"``
#: tests every point against every candidate place: ~40 s at 10,000 trials) and the point clouds
#: are rasterised inside the SVG (which otherwise holds a path per point and bar).
MANY_POINTS = 500


def model_order(model_type) -> tuple[int, str]:
    """Sort key: the seed report's order (AE, VAE, β-VAE, β-TCVAE), then the rest of the zoo, then
    other types by name."""
    order = list(MODEL_STYLE)
    return (order.index(model_type), "") if model_type in order else (len(order), str(model_type))


def by_model(df: pd.DataFrame):
    """``df`` grouped by model type, in :func:`model_order` (legends read in the seed report's order)."""
    return sorted(df.groupby("model_type"), key=lambda item: model_order(item[0]))


def style(model_type: str) -> tuple[str, str, str]:
    """(colour, marker, label) of a model type; unknown types get stable extra colours."""
    if model_type in MODEL_STYLE:
        return MODEL_STYLE[model_type]
    colour = _EXTRA_COLOURS[sum(map(ord, str(model_type))) % len(_EXTRA_COLOURS)]
    return colour, "P", str(model_type)


def axis_label(metric: str, sense: str) -> str:
    """"BetaVAE score (↑ better)" etc.; the label (with its unit) comes from the metric catalogue."""
    return f"{metric_label(metric)} ({arrow(sense)} better)"


def _save(fig, out: str | None):
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        fig.savefig(out + ".png", dpi=120, bbox_inches="tight")
        fig.savefig(out + ".svg", bbox_inches="tight")
    return fig


def _footnote(fig, df: pd.DataFrame) -> None:
    bad = {k: int(df[k].sum()) for k in UNSUCCESSFUL if k in df.columns and df[k].any()}
    if bad:
        fig.text(0.01, 0.005, "not plotted: " + ", ".join(f"{v} {k}" for k, v in bad.items()),
                 fontsize=8, color="#555555", ha="left", va="bottom")


def _legend(ax, points: int, **kw) -> None:
    """The axes' legend: matplotlib's best place for a small study, right of the axes for a large one."""
    if points > MANY_POINTS:
        kw.update(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    else:
        kw.setdefault("loc", "best")
    ax.legend(**kw)


def _sizes(df: pd.DataFrame) -> np.ndarray:
    if "latent_dim" not in df.columns or df["latent_dim"].isna().all():
        return np.full(len(df), 60.0)
    dims = df["latent_dim"].astype(float).to_numpy()
    lo, hi = np.nanmin(dims), np.nanmax(dims)
    if not hi > lo:
        return np.full(len(df), 70.0)
    return 40.0 + 120.0 * (dims - lo) / (hi - lo)


def _error_bars(ax, group: pd.DataFrame, x: str, y: str, colour: str, alpha: float, rasterized: bool) -> None:
    """±1 SE bars where the trials logged ``<metric>_se`` (no bar for a metric without one)."""
    xerr = group[se_name(x)].to_numpy(float) if se_name(x) in group.columns else None
    yerr = group[se_name(y)].to_numpy(float) if se_name(y) in group.columns else None
    if xerr is None and yerr is None:
        return
    ax.errorbar(group[x], group[y], xerr=xerr, yerr=yerr, fmt="none", ecolor=colour, alpha=alpha,
                elinewidth=1.0, capsize=2, zorder=1, rasterized=rasterized)


def _step_front(ax, front: pd.DataFrame, x: str, y: str, senses: tuple[str, str], **kw) -> None:
    if front.empty:
        return
    f = front.sort_values(x, ascending=senses[0] == "min")
    ax.step(f[x], f[y], where="post", **kw)


def pareto_plot(df: pd.DataFrame, x: str, y: str, senses: tuple[str, str] = ("min", "max"),
                study: str = "", out: str | None = None):
    """(a) x vs y per trial: model type by colour/marker, latent dim by size, the model type's
    hyperparameters annotated (on every trial up to :data:`ANNOTATE_ALL_UP_TO` trials, on the
    front's beyond), ±1 SE bars where the metric has one, the front as a step line, dominated
    points faded."""
    ok = df[df["ok"]].dropna(subset=[x, y]) if "ok" in df.columns else df.dropna(subset=[x, y])
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    mask = non_dominated_mask(ok[[x, y]].to_numpy(float), list(senses)) if len(ok) else np.array([], bool)
    sizes, many = _sizes(ok), len(ok) > MANY_POINTS
    for mt, group in by_model(ok):
        colour, marker, _ = style(mt)
        idx = ok.index.get_indexer(group.index)
        on = mask[idx]
        _error_bars(ax, group[~on], x, y, colour, 0.3, many)
        _error_bars(ax, group[on], x, y, colour, 0.9, False)
        ax.scatter(group[x][~on], group[y][~on], s=sizes[idx][~on], c=colour, marker=marker, alpha=0.3,
                   edgecolors="none", rasterized=many)
        ax.scatter(group[x][on], group[y][on], s=sizes[idx][on], c=colour, marker=marker,
                   edgecolors="black", linewidths=0.8)
        _annotate(ax, group if len(ok) <= ANNOTATE_ALL_UP_TO else group[on], x, y, colour)
    _step_front(ax, ok[mask] if len(ok) else ok, x, y, senses, color="black", lw=1.2, alpha=0.8,
                label="Pareto front")
    ax.set_xlabel(axis_label(x, senses[0]))
    ax.set_ylabel(axis_label(y, senses[1]))
    ax.set_title(f"{study}: {metric_label(y)} vs {metric_label(x)} ({len(ok)} of {len(df)} trials)")
    if "latent_dim" in ok.columns and ok["latent_dim"].nunique() > 1:
        ax.text(0.99, 0.01, "marker size ∝ latent dim", transform=ax.transAxes, ha="right", fontsize=8)
    ax.grid(alpha=0.3)
    # Proxy handles of one size: the scatters' sizes vary with the latent dim, and a type with no
    # front member has only empty or faded scatters, which a legend draws as 1-px or faint dots.
    handles = [plt.Line2D([], [], ls="", marker=style(mt)[1], color=style(mt)[0], markeredgecolor="black",
                          markeredgewidth=0.8, markersize=LEGEND_MARKERSIZE, label=style(mt)[2])
               for mt in sorted(ok["model_type"].unique(), key=model_order)] if len(ok) else []
    handles += [h for h, label in zip(*ax.get_legend_handles_labels(), strict=True) if label == "Pareto front"]
    _legend(ax, len(ok), handles=handles, fontsize=9)
    _footnote(fig, df)
    return _save(fig, out)


def _annotate(ax, rows: pd.DataFrame, x: str, y: str, colour: str) -> None:
    """Each row's hyperparameter values (e.g. ``β=4``) next to its point."""
    for _, row in rows.iterrows():
        knobs = hyperparams.text(row)
        if knobs:
            ax.annotate(knobs, (row[x], row[y]), textcoords="offset points", xytext=(5, 4), fontsize=7,
                        color=colour)


def fronts_by_model(df: pd.DataFrame, x: str, y: str, senses: tuple[str, str] = ("min", "max"),
                    study: str = "", out: str | None = None):
    """(b) each model type's own Pareto front, overlaid: which type buys disentanglement cheapest."""
    ok = df[df["ok"]].dropna(subset=[x, y])
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    for mt, group in by_model(ok):
        colour, marker, label = style(mt)
        front = group[non_dominated_mask(group[[x, y]].to_numpy(float), list(senses))]
        ax.scatter(group[x], group[y], c=colour, marker=marker, alpha=0.25, edgecolors="none",
                   rasterized=len(ok) > MANY_POINTS)
        ax.scatter(front[x], front[y], c=colour, marker=marker, edgecolors="black", linewidths=0.6)
        _step_front(ax, front, x, y, senses, color=colour, lw=1.8, label=f"{label} ({len(group)} trials)")
    ax.set_xlabel(axis_label(x, senses[0]))
    ax.set_ylabel(axis_label(y, senses[1]))
    ax.set_title(f"{study}: Pareto front per model type")
    ax.grid(alpha=0.3)
    _legend(ax, len(ok), fontsize=9)
    _footnote(fig, df)
    return _save(fig, out)


def metric_vs_hyperparameter(df: pd.DataFrame, metrics: Mapping[str, str], study: str = "",
                             out: str | None = None):
    """(c) each metric against each model type's own searched hyperparameter (log-x; β for β-VAE
    and β-TCVAE, C_max, γ, λ_od for the others), mean ± std over seeds; types without one (AE, VAE)
    as horizontal reference lines. The seed report's claim — higher β, blurrier and more
    disentangled — as a picture, for every model type of the study."""
    ok = df[df["ok"]]
    names = [m for m in metrics if m in ok.columns]
    fig, axes = plt.subplots(1, len(names), figsize=(5.0 * len(names), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], names, strict=True):
        for mt, group in by_model(ok):
            colour, marker, label = style(mt)
            knobs = hyperparams.swept(group.iloc[0])
            knob = next((n for n in knobs if n in group.columns and group[n].notna().any()), None)
            if knob is not None:
                agg = group.dropna(subset=[knob, metric]).groupby(knob)[metric].agg(["mean", "std", "count"])
                ax.errorbar(agg.index, agg["mean"], yerr=agg["std"].fillna(0.0), color=colour, marker=marker,
                            capsize=3, label=f"{label} ({knobs[knob]})", lw=1.2, rasterized=len(agg) > MANY_POINTS)
            elif group[metric].notna().any():
                mean, std = group[metric].mean(), group[metric].std()
                ax.axhline(mean, color=colour, ls="--", lw=1.2, label=f"{label} (no hyperparameter)")
                if std == std and std > 0:
                    ax.axhspan(mean - std, mean + std, color=colour, alpha=0.1)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("the model type's hyperparameter (log scale)")
        ax.set_ylabel(axis_label(metric, metrics[metric]))
        ax.grid(alpha=0.3)
    _legend(axes[0][0], len(ok), fontsize=8)
    fig.suptitle(f"{study}: metrics vs β (mean ± std over seeds, {len(ok)} trials)")
    fig.tight_layout()
    _footnote(fig, df)
    return _save(fig, out)


def hypervolume_plot(df: pd.DataFrame, objectives: Mapping[str, str], study: str = "", out: str | None = None):
    """(d) hypervolume of the front of the first k finished trials (non-decreasing)."""
    ok = df[df["ok"]].dropna(subset=list(objectives))
    hv = hypervolume_progress(ok, objectives) if len(ok) else np.array([])
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    ax.plot(np.arange(1, len(hv) + 1), hv, marker="o" if len(hv) <= 200 else None, color="#333333")
    ax.set_xlabel("finished trials")
    ax.set_ylabel("hypervolume (↑ better)")
    ax.set_title(f"{study}: hypervolume of {' × '.join(objectives)} vs trials")
    ax.grid(alpha=0.3)
    return _save(fig, out)


def seed_spread_plot(agg: pd.DataFrame, objectives: Mapping[str, str], study: str = "", out: str | None = None):
    """Seed means with ±1 std error bars in both objectives: is a difference between
    configurations larger than the spread over seeds? (One errorbar call per model type and
    front membership, not per configuration: a 10,000-trial search has ~10,000 configurations.)
    With one objective it is drawn against itself: the spread along the diagonal."""
    names = list(objectives)
    x, y = names[0], names[1] if len(names) > 1 else names[0]
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    for mt, group in by_model(agg):
        colour, marker, _ = style(mt)
        for on_front, part in group.groupby("on_front"):
            ax.errorbar(part[f"{x}_mean"], part[f"{y}_mean"], xerr=np.nan_to_num(part[f"{x}_std"].to_numpy(float)),
                        yerr=np.nan_to_num(part[f"{y}_std"].to_numpy(float)), color=colour, marker=marker,
                        ls="none", capsize=3, mec="black" if on_front else colour,
                        rasterized=len(agg) > MANY_POINTS)
    handles = [plt.Line2D([], [], color=style(m)[0], marker=style(m)[1], ls="", label=style(m)[2])
               for m in sorted(agg["model_type"].unique(), key=model_order)]
    _legend(ax, len(agg), handles=handles, fontsize=9)
    ax.set_xlabel(axis_label(x, objectives[x]))
    ax.set_ylabel(axis_label(y, objectives[y]))
    ax.set_title(f"{study}: seed means ± std ({int(agg[f'{x}_count'].sum())} trials)")
    ax.grid(alpha=0.3)
    return _save(fig, out)


def image_panels(images: Mapping[str, str | None], title: str, out: str | None = None):
    """(e) one panel per model type from logged PNGs (samples or traversals); a missing image
    becomes a labelled empty panel rather than an error."""
    import matplotlib.image as mpimg

    names = list(images)
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(4.0 * max(len(names), 1), 4.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=False):  # no image at all: one empty axis, no panel
        path = images[name]
        if path and os.path.exists(path):
            ax.imshow(mpimg.imread(path), cmap="gray")
        else:
            ax.text(0.5, 0.5, "image not logged", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out)


def seed_means(df: pd.DataFrame, objectives: Mapping[str, str]) -> pd.DataFrame:
    """Seed aggregation of the finished trials (see :func:`analysis.pareto.seed_aggregate`)."""
    return seed_aggregate(df[df["ok"]].dropna(subset=list(objectives)), objectives)
