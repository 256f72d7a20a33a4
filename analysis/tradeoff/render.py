"""A tradeoff analysis written out: ``tradeoff.json`` (the findings), ``tradeoff.md`` (the rules and
tables, also the report's section), ``tradeoff_front.csv`` and the robust front's figure."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict

import pandas as pd

from analysis.schema import arrow
from analysis.tradeoff import power
from analysis.tradeoff.findings import NOT_SHOWN, RULE, TREND, Finding

FIGURE = "tradeoff_front"
#: Seeds needed above this print as "> this" (the effect is indistinguishable from 0).
MANY_SEEDS = 1000


def _clean(value):
    """JSON-safe: NaN/inf → None, tuples → lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def finding_record(found: Finding) -> dict:
    """One finding as tradeoff.json holds it (trend keys or comparison keys, never both)."""
    record = asdict(found)
    drop = ("a", "b", "matched") if found.finding == TREND else ("model_type", "hyperparameter", "rho")
    return _clean({k: v for k, v in record.items() if k not in drop})


def number(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}"


def estimate_text(found: Finding) -> str:
    lo, hi = found.ci
    return f"{number(found.estimate)} [{number(lo)}, {number(hi)}]"


def seeds_text(found: Finding) -> str:
    n = found.seeds_needed
    return "–" if n is None else (f"> {MANY_SEEDS}" if n > MANY_SEEDS else str(n))


def _verdict(found: Finding) -> str:
    why = found.reason or found.limit
    return f"**{found.verdict}**" if found.verdict != NOT_SHOWN else (f"not shown ({why})" if why else NOT_SHOWN)


def _test(found: Finding) -> str:
    kind = "within-seed" if found.test.startswith("within-seed") else "plain"
    return kind + (" residuals" if "residual" in found.test else "")


def trend_table(findings: list[Finding]) -> list[str]:
    lines = ["| model | hyperparameter | metric | Spearman ρ | slope [95% CI] | per | p | Holm p | verdict | "
             "trials (excluded) | seeds | seeds needed | permutation |", "|" + "---|" * 13]
    for f in findings:
        lines.append(f"| {f.model_type} | {f.hyperparameter} | {f.metric} ({arrow(f.direction)}) | "
                     f"{number(f.rho, 2)} | "
                     f"{estimate_text(f)} | {f.unit.removeprefix('per ')} | {number(f.p, 2)} | {number(f.p_holm, 2)} | "
                     f"{_verdict(f)} | {f.n_trials} ({f.n_excluded}) | {f.n_seeds} | {seeds_text(f)} | {_test(f)} |")
    return lines


def compare_table(findings: list[Finding]) -> list[str]:
    lines = ["| a | b | metric | at matched | a − b [95% CI] | p | Holm p | verdict (a vs b) | trials (excluded) "
             "| seeds | seeds needed | permutation |", "|" + "---|" * 12]
    for f in findings:
        lines.append(f"| {f.a} | {f.b} | {f.metric} ({arrow(f.direction)}) | {f.matched or '–'} | {estimate_text(f)} | "
                     f"{number(f.p, 2)} | {number(f.p_holm, 2)} | {_verdict(f)} | {f.n_trials} ({f.n_excluded}) | "
                     f"{f.n_seeds} | {seeds_text(f)} | {_test(f)} |")
    return lines


def front_table(result) -> list[str]:
    axes = list(result.front.axes)
    lines = ["| configuration | trials | seeds | " + " | ".join(f"{m} ({arrow(s)}) mean [95% CI]"
                                                      for m, s in result.front.axes.items())
             + " | P(on front) | on the front of the means |", "|" + "---|" * (5 + len(axes))]
    for p in result.front.points:
        cells = [f"{number(p.means[m])} [{number(p.ci[m][0])}, {number(p.ci[m][1])}]" for m in axes]
        lines.append(f"| {p.config} | {p.n_trials} | {p.n_seeds} | " + " | ".join(cells)
                     + f" | {p.p_front:.2f} | {'yes' if p.on_front else 'no'} |")
    return lines


def _headline(result) -> list[str]:
    """One bullet per shown finding."""
    lines = []
    for f in result.findings:
        if f.verdict == NOT_SHOWN:
            continue
        if f.finding == TREND:
            lines.append(f"- {f.model_type}: {f.metric} **{f.verdict}** with {f.hyperparameter} "
                         f"({estimate_text(f)} {f.unit}; p = {number(f.p, 2)}, Holm p = {number(f.p_holm, 2)})")
        else:
            where = f" at matched {f.matched}" if f.matched else ""
            lines.append(f"- {f.a} vs {f.b}: {f.metric} **{f.verdict}**{where} ({estimate_text(f)}; "
                         f"p = {number(f.p, 2)}, Holm p = {number(f.p_holm, 2)})")
    return lines or ["- nothing is shown by the rules at this number of seeds"]


def _few_seeds(n_seeds: int) -> list[str]:
    """A warning for 2–4 seeds: the seed bootstrap then has only C(2S − 1, S) distinct resamples."""
    if not 2 <= n_seeds < 5:
        return []
    return [f"With {n_seeds} seeds the bootstrap has only {math.comb(2 * n_seeds - 1, n_seeds)} distinct "
            "resamples: its intervals are coarse and tend to be too narrow, so the permutation p (which the rule "
            "also requires) and the seeds needed carry the weight.", ""]


def markdown(result, level: int = 1) -> list[str]:
    """The analysis as Markdown lines (``level`` sets the heading depth; 2 inside report.md)."""
    h, sub = "#" * level, "#" * (level + 1)
    s = result.settings
    c = result.counts
    trends = [f for f in result.findings if f.finding == TREND]
    compares = [f for f in result.findings if f.finding != TREND]
    lines = [f"{h} What the study shows{': ' + result.study if result.study else ''}", "",
             f"{c.get('completed', 0)} completed trials of {c.get('trials', 0)} ({c.get('collapsed', 0)} collapsed: "
             f"their NaN scores are left out, counted per finding as excluded), {c.get('seeds', 0)} seeds. "
             f"Intervals: 95% percentile bootstrap over seeds ({s.bootstrap} resamples, each seed's trials "
             f"together; {s.matched_draws} for matched comparisons). p: two-sided permutation test "
             f"({s.permutations} permutations), within-seed when seeds are shared across the compared groups "
             "(values permuted only among the same seed's trials, so common random numbers cancel), else plain. "
             f"Trends: slope of the configuration means by OLS per doubling of the hyperparameter, Spearman ρ "
             "over the trials. Comparisons: mean over seeds of the per-seed difference of the two types' means "
             "(difference of means when seeds are not shared), p by permuting the type labels; at matched "
             "reconstruction, the mean gap between the two types' seed-mean fronts over their overlapping "
             "recon_error range, p by permuting (within seeds) the residuals around one curve fitted to both types "
             "(Freedman–Lane).", "",
             RULE, "", f"Seeds needed: {power.FORMULA}.", "", *_few_seeds(c.get("seeds", 0)),
             f"{sub} Shown", "", *_headline(result), ""]
    if trends:
        lines += [f"{sub} Trends", "", *trend_table(trends), ""]
    if compares:
        lines += [f"{sub} Comparisons of model types", "", *compare_table(compares), ""]
    if result.front and result.front.points:
        lines += [f"{sub} Robust front", "",
                  f"Each configuration's seed means, 95% bootstrap intervals and probability of being on the front "
                  f"(non-dominated among the configuration means) over {result.front.draws} seed resamples; "
                  f"{result.front.n_excluded} trial(s) without a value on an axis left out.", "",
                  *front_table(result), "", f"![Robust front]({FIGURE}.png)", ""]
    return lines


def front_figure(result, out: str):
    """Configuration means with 95% interval bars on the front's axes, marker colour and size by the
    probability of being on the front, marker shape by model type; saved as ``out``.png/.svg."""
    from analysis import plots

    plt = plots.plt
    (x, sx), (y, sy) = result.front.axes.items()
    fig, ax = plt.subplots(figsize=(8, 6))
    cmap = plt.get_cmap("viridis")
    for p in result.front.points:
        (xlo, xhi), (ylo, yhi) = p.ci[x], p.ci[y]
        mx, my = p.means[x], p.means[y]
        ax.errorbar(mx, my, xerr=[[max(mx - xlo, 0)], [max(xhi - mx, 0)]],
                    yerr=[[max(my - ylo, 0)], [max(yhi - my, 0)]], fmt="none", ecolor="0.6", lw=1, zorder=1)
        ax.scatter(mx, my, s=40 + 260 * p.p_front, color=cmap(p.p_front), marker=plots.style(p.model_type)[1],
                   edgecolor="k", zorder=2)
        ax.annotate(f"{p.config} ({p.p_front:.2f})", (mx, my), textcoords="offset points", xytext=(6, 4), fontsize=7)
    scale = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(scale, ax=ax, label="probability of being on the front")
    ax.set_xlabel(plots.axis_label(x, sx))
    ax.set_ylabel(plots.axis_label(y, sy))
    ax.set_title(f"{result.study or 'study'}: configuration means, 95% bootstrap intervals over seeds")
    fig.tight_layout()
    fig.savefig(out + ".png", dpi=120)
    fig.savefig(out + ".svg")
    return fig


def write_all(result, out_dir: str) -> dict[str, str]:
    """tradeoff.json, tradeoff.md, tradeoff_front.csv and the figure in ``out_dir``; name → path."""
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    path = os.path.join(out_dir, "tradeoff.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump([finding_record(f) for f in result.findings], handle, indent=1, ensure_ascii=False)
    written["tradeoff.json"] = path
    path = os.path.join(out_dir, "tradeoff.md")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(markdown(result)))
    written["tradeoff.md"] = path
    if result.front and result.front.points:
        rows = [{"config": p.config, "model_type": p.model_type, "trials": p.n_trials, "seeds": p.n_seeds,
                 **{f"{m}_mean": p.means[m] for m in p.means}, **{f"{m}_lo": p.ci[m][0] for m in p.ci},
                 **{f"{m}_hi": p.ci[m][1] for m in p.ci}, "p_front": p.p_front, "on_front": p.on_front}
                for p in result.front.points]
        written["tradeoff_front.csv"] = os.path.join(out_dir, "tradeoff_front.csv")
        pd.DataFrame(rows).to_csv(written["tradeoff_front.csv"], index=False)
        from analysis import plots

        plots.plt.close(front_figure(result, os.path.join(out_dir, FIGURE)))
        written[FIGURE] = os.path.join(out_dir, FIGURE + ".png")
    return written
