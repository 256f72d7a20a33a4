"""The study report: figures, CSVs and a Markdown page answering "what does disentanglement cost in
reconstruction, and which model buys it cheapest?".

Example::

    from analysis.runs import load_runs
    from analysis.report import write_report
    df = load_runs("quick-20261124-101500")
    write_report(df, {"recon_error": "min", "beta_vae_score": "max"}, "out/", study="quick-…")
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import pandas as pd

from analysis import hyperparams, plots
from analysis.pareto import knee_index, neighbour_separation, non_dominated_mask
from analysis.runs import OK, browse_hint, finished, mlflow_ui_url
from analysis.schema import PROCEDURAL_SUFFIX, SE_SUFFIX, Artifact, Tag, TrialStatus, arrow, metric_direction

FRONT_COLUMNS = ("model_type", hyperparams.TEXT_COLUMN, "latent_dim", "seed", Tag.TRIAL_ID)
#: Scores drawn against each model type's hyperparameter besides the objectives (each with its catalogue direction).
CURVE_SCORES = ("blur", "shape_error", "beta_vae_score", "mig")


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(df: pd.DataFrame, columns) -> str:
    """A GitHub-flavoured Markdown table of ``columns`` of ``df``."""
    cols = [c for c in columns if c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(row[c]) for c in cols) + " |" for _, row in df.iterrows()]
    return "\n".join(lines)


def dataset_note(df: pd.DataFrame) -> str | None:
    """The report's line naming the dataset(s) as the study recorded them (the parent run's
    ``dataset`` tag, column ``dataset_record``; None if the runs do not say). A procedural
    look-alike (``dsprites-procedural``) gets a warning: same factor grid as the official release,
    not its pixels, so its scores must not be set beside published numbers."""
    if "dataset_record" not in df.columns:
        return None
    names = sorted({str(v) for v in df["dataset_record"].dropna()})
    if not names:
        return None
    described = [n + (" (rendered procedurally here: the factor grid of the official release, not "
                      "its pixels; do not compare these scores with published numbers on the original)"
                      if n.endswith(PROCEDURAL_SUFFIX) else "") for n in names]
    return "Dataset: " + "; ".join(described) + "."


def resolution_lines(front: pd.DataFrame, objectives: Mapping[str, str], k: float = 2.0) -> list[str]:
    """The report's paragraph on which neighbouring front members differ by less than k SE."""
    if len(front) < 2:
        return []
    sep = neighbour_separation(front, objectives, k)
    lines = ["## Is the front resolved?", "",
             f"Neighbours along the front, compared objective by objective with {k:g} combined standard "
             f"errors (k·sqrt(SE_a² + SE_b²), from the `<metric>{SE_SUFFIX}` each trial logged; an objective "
             f"without an SE counts as exact):", ""]
    for _, pair in sep.iterrows():
        a, b = front.loc[pair["a"]], front.loc[pair["b"]]
        parts = [f"{m} Δ {pair[f'{m}_diff']:.3g} vs {k:g} SE {pair[f'{m}_noise']:.3g}" for m in objectives]
        verdict = "separated" if pair["resolved"] else f"**within noise in {pair['unresolved']}**"
        step = f"{panel_label(a, with_seed=True)} → {panel_label(b, with_seed=True)}"
        lines.append(f"- {step}: {'; '.join(parts)} — {verdict}")
    unresolved = int((~sep["resolved"]).sum())
    lines += ["", f"{unresolved} of {len(sep)} steps along the front are within noise in some objective."
              if unresolved else "Every step along the front is larger than the noise.", ""]
    return lines


def _linked(trials: pd.DataFrame, tracking_uri: str | None) -> pd.DataFrame:
    """``trials`` with each trial id as a Markdown link to its MLflow run, when the runs are on a
    tracking server (a SQLite or file store has no page to link to)."""
    if not tracking_uri or not {"experiment_id", "run_id", "trial_id"} <= set(trials.columns):
        return trials
    urls = [mlflow_ui_url(tracking_uri, e, r) for e, r in zip(trials["experiment_id"], trials["run_id"], strict=True)]
    if not any(urls):
        return trials
    ids = [f"[{_fmt(t)}]({u})" if u else _fmt(t) for t, u in zip(trials["trial_id"], urls, strict=True)]
    return trials.assign(trial_id=ids)


TRIAL_COLUMNS = (Tag.TRIAL_ID, "model_type", hyperparams.TEXT_COLUMN, "latent_dim", "seed", Tag.TRIAL_STATUS)

#: The report's tables list every row up to this many; past it, the front first and then the rest
#: by the first objective, cut there (a 10,000-trial study made a 2.6 MB page); every trial is in
#: runs.csv next to the report.
REPORT_ROWS = 500


def _shown(rows: pd.DataFrame, on_front, metric: str, sense: str) -> tuple[pd.DataFrame, str]:
    """``rows`` as the report lists them, and a note saying what was left out (empty when nothing)."""
    if len(rows) <= REPORT_ROWS:
        return rows, ""
    ordered = rows.assign(_rest=~pd.Series(on_front, index=rows.index).astype(bool)).sort_values(
        ["_rest", metric], ascending=[True, sense == "min"], na_position="last", kind="stable")
    note = (f"The front, then the best by {metric}: {REPORT_ROWS} of {len(rows)} rows; all of them are in "
            "runs.csv.")
    return ordered.drop(columns="_rest").head(REPORT_ROWS), note


def trials_lines(df: pd.DataFrame, front: pd.DataFrame, objectives: Mapping[str, str],
                 tracking_uri: str | None) -> list[str]:
    """The report's table of every trial (front members marked), each linked to its MLflow run
    on a tracking server; for a local store, how to open the MLflow UI instead."""
    first = next(iter(objectives))
    shown, note = _shown(df, df.index.isin(front.index), first, objectives[first])
    table = _linked(hyperparams.with_text(shown).assign(
        front=["✓" if on else "" for on in shown.index.isin(front.index)]), tracking_uri)
    lines = ["## All trials", ""] + ([note, ""] if note else [])
    experiments = sorted({str(e) for e in df.get("experiment_id", pd.Series(dtype=object)).dropna()})
    if tracking_uri and len(experiments) == 1:
        url = mlflow_ui_url(tracking_uri, experiments[0])
        lines += [f"The study's runs in MLflow: [{url}]({url}); each trial id links to its run." if url else
                  f"To browse the runs in MLflow: {browse_hint(tracking_uri, experiments[0])}.", ""]
    extra = [m for m in ("blur", "mig") if m not in objectives and m in df.columns]
    lines += [markdown_table(table, [*TRIAL_COLUMNS, *objectives, *extra, "front"]), ""]
    return lines


def front_of(df: pd.DataFrame, objectives: Mapping[str, str]) -> pd.DataFrame:
    """Pareto-optimal finished trials, sorted by the first objective."""
    ok = finished(df, objectives)
    front = ok[non_dominated_mask(ok[list(objectives)].to_numpy(float), list(objectives.values()))]
    return front.sort_values(list(objectives)[0])


def best_per_model(df: pd.DataFrame, objectives: Mapping[str, str]) -> pd.DataFrame:
    """One finished trial per model type, in the seed report's order (AE, VAE, β-VAE, β-TCVAE,
    then others): the knee of that type's own Pareto front (:func:`analysis.pareto.knee_index`).
    Every model type with a finished trial is there, on the study's front or not."""
    ok = finished(df, objectives)
    names = list(objectives)
    picks = []
    for _mt, group in ok.groupby("model_type", sort=False):
        own = group[non_dominated_mask(group[names].to_numpy(float), [objectives[m] for m in names])]
        picks.append(own.loc[knee_index(own, objectives)])
    picks.sort(key=lambda row: plots.model_order(row["model_type"]))
    return pd.DataFrame(picks)


def panel_label(row: pd.Series, with_seed: bool = False) -> str:
    """"β-VAE β=4 (trial t2)" — or with the seed "β-VAE β=4 seed 1 (trial t2)": the model type,
    its searched hyperparameters if it has any (:mod:`analysis.hyperparams`), the trial."""
    knobs = hyperparams.text(row)
    beta_text = f" {knobs}" if knobs else ""
    seed_text = f" seed {row.get('seed', '?')}" if with_seed else ""
    return f"{plots.style(row['model_type'])[2]}{beta_text}{seed_text} (trial {row.get(Tag.TRIAL_ID, '?')})"


#: How the image figures choose their trials (their caption in the reports).
PANEL_CHOICE = ("one panel per model type, each from the knee of that type's own Pareto front (the member "
                "with the smallest sum of the objectives normalised over that front)")


def safe_name(text) -> str:
    """One path component from run data (a run's ``model_type``, which whoever can write runs
    chooses): letters, digits, ``.``, ``-`` and ``_`` only, never ``.`` or ``..`` — so
    ``../../x`` cannot lead a download out of the report's folder."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip(".") or "_"


def _download_images(picks: pd.DataFrame, tracking_uri: str, out_dir: str, artifact: str) -> dict[str, str | None]:
    """Per chosen trial (one per model type), its logged image at ``artifact`` (e.g.
    :attr:`Artifact.SAMPLES`; None if absent), downloaded to ``images/<model type>`` (:func:`safe_name`)."""
    import mlflow

    found: dict[str, str | None] = {}
    for _, row in picks.iterrows():
        try:
            path = mlflow.artifacts.download_artifacts(run_id=row["run_id"], artifact_path=artifact,
                                                       dst_path=os.path.join(out_dir, Artifact.IMAGES_DIR,
                                                                             safe_name(row["model_type"])),
                                                       tracking_uri=tracking_uri)
        except Exception:
            path = None
        found[panel_label(row)] = path
    return found


def _counts_line(df: pd.DataFrame, objectives: Mapping[str, str]) -> str:
    """"8 trials: 6 finished, 1 failed, 1 diverged, 0 pruned (...). Objectives: recon_error (↓), ..."."""
    counts = {k: int(df[k].sum()) if k in df.columns else 0
              for k in (OK, TrialStatus.FAILED, TrialStatus.DIVERGED, TrialStatus.PRUNED)}
    collapsed = int((df["collapsed"] == 1).sum()) if "collapsed" in df.columns else 0
    collapsed_note = (f" {collapsed} finished trial(s) collapsed (outputs that do not depend on the input): "
                      "their blur and shape_error are NaN, so they enter no mean, front or interval."
                      if collapsed else "")
    return (f"{len(df)} trials: {counts[OK]} finished, {counts[TrialStatus.FAILED]} {TrialStatus.FAILED}, "
            f"{counts[TrialStatus.DIVERGED]} {TrialStatus.DIVERGED}, {counts[TrialStatus.PRUNED]} "
            f"{TrialStatus.PRUNED} (the last three are kept in runs.csv, never in a front).{collapsed_note} "
            "Objectives: " + ", ".join(f"{m} ({arrow(s)})" for m, s in objectives.items()) + ".")


#: The report's figure sections, in order: figure name → caption.
FIGURE_CAPTIONS = {"pareto": "Trials and the Pareto front", "fronts_by_model": "Front per model type",
                   "metric_vs_hyperparameter": "Metrics vs the hyperparameter of each model type",
                   "blur_vs_shape_error": "Blur vs shape error: which of the two each trial's "
                                          "reconstructions get wrong (lost detail, or misplaced outlines)",
                   "hypervolume": "Hypervolume vs trials", "samples_by_model": "Samples from the prior",
                   "traversals_by_model": "Latent traversals"}


def write_report(df: pd.DataFrame, objectives: Mapping[str, str], out_dir: str, study: str = "",
                 tracking_uri: str | None = None) -> dict[str, str]:
    """Write figures (PNG + SVG), front.csv, runs.csv, report.md and report.html into ``out_dir``.

    Returns a dict of what was written (name → path).
    """
    os.makedirs(out_dir, exist_ok=True)
    objectives = dict(objectives)
    front = front_of(df, objectives)
    written, agg, panel_trials = _figures(df, objectives, out_dir, study, tracking_uri)
    for name, frame in (("runs.csv", df), ("front.csv", front)):
        frame.to_csv(os.path.join(out_dir, name), index=False)
        written[name] = os.path.join(out_dir, name)
    lines = _report_lines(df, front, objectives, tracking_uri, study, agg, written, panel_trials)
    from analysis.tradeoff import report_section

    section, files = report_section(df, objectives, out_dir, study)  # never raises
    lines += section
    written.update(files)
    with open(os.path.join(out_dir, "report.md"), "w") as handle:
        handle.write("\n".join(lines))
    written["report.md"] = os.path.join(out_dir, "report.md")
    from analysis.report_html import write_html

    written["report.html"] = write_html(os.path.join(out_dir, "report.md"), os.path.join(out_dir, "report.html"))
    return written


def _figures(df, objectives, out_dir, study, tracking_uri):
    """Draw every figure; returns (name → PNG path, the seed aggregate, the image panels' labels)."""
    names = list(objectives)
    x, y = names[0], names[1] if len(names) > 1 else names[0]
    senses = (objectives[x], objectives[y])
    written: dict[str, str] = {}

    def fig(name, fn, *args, **kw):
        path = os.path.join(out_dir, name)
        plots.plt.close(fn(*args, out=path, **kw))
        written[name] = path + ".png"

    fig("pareto", plots.pareto_plot, df, x, y, senses, study=study)
    fig("fronts_by_model", plots.fronts_by_model, df, x, y, senses, study=study)
    if {"blur", "shape_error"} <= set(df.columns) and df["shape_error"].notna().any():
        fig("blur_vs_shape_error", plots.pareto_plot, df, "blur", "shape_error", ("min", "min"), study=study)
    curve_metrics = {m: objectives.get(m) or metric_direction(m) for m in (*objectives, *CURVE_SCORES)
                     if m in df.columns}
    if hyperparams.columns(df[df["ok"]]):
        fig("metric_vs_hyperparameter", plots.metric_vs_hyperparameter, df, curve_metrics, study=study)
    fig("hypervolume", plots.hypervolume_plot, df, objectives, study=study)
    agg = plots.seed_means(df, objectives)
    if len(agg) and int(agg[f"{x}_count"].max()) > 1:
        fig("seed_spread", plots.seed_spread_plot, agg, objectives, study=study)
    panel_trials: list[str] = []
    if tracking_uri:
        picks = best_per_model(df, objectives)
        panel_trials = [panel_label(row) for _, row in picks.iterrows()]
        for artifact, title in ((Artifact.SAMPLES, "samples from the prior"),
                                (Artifact.TRAVERSALS, "latent traversals (rows: dims, by KL where there is a prior)")):
            panels = _download_images(picks, tracking_uri, out_dir, artifact)
            if panels:
                name = os.path.splitext(os.path.basename(artifact))[0]
                fig(f"{name}_by_model", plots.image_panels, panels,
                    f"{study}: {title}\nper model type, the knee of its own Pareto front")
    return written, agg, panel_trials


def _report_lines(df, front, objectives, tracking_uri, study, agg, written, panel_trials) -> list[str]:
    """report.md: counts, the front, its resolution, every trial, seed means, the figures."""
    lines = [f"# Study {study}", "", _counts_line(df, objectives), ""]
    note = dataset_note(df)
    if note:
        lines += [note, ""]
    lines += ["## Pareto-optimal trials", "",
              markdown_table(_linked(hyperparams.with_text(front), tracking_uri),
                             [*FRONT_COLUMNS, *objectives, *(m for m in ("blur", "mig") if m not in objectives)]),
              ""]
    lines += resolution_lines(front, objectives)
    lines += trials_lines(df, front, objectives, tracking_uri)
    if "seed_spread" in written:
        first = next(iter(objectives))
        shown, note = _shown(agg, agg["on_front"], f"{first}_mean", objectives[first])
        lines += ["## Seed means (front of the means marked)", "", *([note, ""] if note else []),
                  markdown_table(shown, list(agg.columns)), "",
                  "![seed spread](seed_spread.png)", ""]
    for name, caption in FIGURE_CAPTIONS.items():
        if name in written:
            lines += [f"## {caption}", "", f"![{caption}]({name}.png)", ""]
            if name in ("samples_by_model", "traversals_by_model"):
                lines += [f"Panels: {', '.join(panel_trials)}; {PANEL_CHOICE}.", ""]
    return lines
