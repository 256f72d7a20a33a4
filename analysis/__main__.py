"""``python -m analysis``: list studies, or draw a study's Pareto report from MLflow.

    python -m analysis list [--tracking-uri URI]
    python -m analysis pareto --study NAME [--x recon_error --y beta_vae_score] [--out DIR] [--log-to-mlflow]
    python -m analysis udr --study NAME [--method spearman|lasso]
    python -m analysis tradeoff (--study NAME | --csv PATH) [--out DIR] [--claims FILE]
"""

from __future__ import annotations

import argparse
import os
import sys

from analysis.redaction import redact_uri
from analysis.schema import METRICS, Artifact, default_tracking_uri, metric_direction

#: Direction of a metric the catalogue does not know (a hand-made column): larger is better.
UNKNOWN_SENSE = "max"


def metric_sense(name: str, given: str | None, axis: str) -> str:
    """The direction of axis ``axis`` (x or y): the one given on the command line, else the metric
    catalogue's (analysis/schema.py), else max for a metric it does not know. A catalogued metric
    without a better side (a count, a property of the data) needs ``--<axis>-sense``."""
    if given:
        return given
    if name in METRICS:
        sense = metric_direction(name)
        if sense is None:
            from analysis.runs import RunsError

            raise RunsError(f"{axis}: {name} has no better side (min or max); pass --{axis}-sense min or max")
        return sense
    return UNKNOWN_SENSE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis",
                                     description="Pareto analysis of betasweep studies recorded in MLflow.")
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else "
                             "sqlite:///<cwd>/betasweep-runs/mlflow.db).")
    common.add_argument("--experiment", default="betasweep", help="MLflow experiment (default: betasweep).")
    sub.add_parser("list", parents=[common], help="List the studies with their trial counts.")
    p = sub.add_parser("pareto", parents=[common], help="Write the Pareto figures, CSVs and report of a study.")
    p.add_argument("--study", required=True, help="Study name (the MLflow parent run's `study` tag).")
    p.add_argument("--x", default="recon_error", help="Metric on the x axis (default: recon_error).")
    p.add_argument("--y", default="beta_vae_score", help="Metric on the y axis (default: beta_vae_score).")
    p.add_argument("--x-sense", choices=("min", "max"), default=None,
                   help="Direction of x (default: the metric's own, e.g. min for errors and blur, max "
                        "for disentanglement scores; max for a metric the catalogue does not know).")
    p.add_argument("--y-sense", choices=("min", "max"), default=None, help="Direction of y (same default).")
    p.add_argument("--out", default=None, help="Output folder (default: analysis-<study>).")
    p.add_argument("--log-to-mlflow", action="store_true",
                   help="Also attach the figures and report to the study's parent run under analysis/.")
    u = sub.add_parser("udr", parents=[common],
                       help="Compute UDR (Duan et al. 2020) across the seeds of each configuration of a study "
                            "and write it to each trial's run as the metric udr.")
    u.add_argument("--study", required=True, help="Study name (the MLflow parent run's `study` tag).")
    u.add_argument("--method", choices=("spearman", "lasso"), default="spearman",
                   help="Similarity of two models' latents (default: spearman).")
    t = sub.add_parser("tradeoff", parents=[common],
                       help="What a study shows by fixed rules: trends over each hyperparameter, comparisons of "
                            "model types, the robust front; writes tradeoff.json, tradeoff.md and a figure.")
    source = t.add_mutually_exclusive_group(required=True)
    source.add_argument("--study", help="Study name (the MLflow parent run's `study` tag).")
    source.add_argument("--csv", help="A per-trial CSV table instead (e.g. benchmarks/data/seed-dsprites.csv).")
    t.add_argument("--objectives", default=None,
                   help="The study's objectives, comma-separated (e.g. blur,mig): they choose the robust front's "
                        "axes (default: the objectives the study recorded; none for a CSV).")
    t.add_argument("--out", default=None, help="Output folder (default: tradeoff-<study or CSV name>).")
    t.add_argument("--claims", default=None,
                   help="A YAML file of claims, each the findings it expects (e.g. "
                        "benchmarks/seed-report-claims.yaml): each judged by a fixed rule; writes claims.json and "
                        "claims.md too.")
    return parser


def _tradeoff(args, uri: str) -> None:
    from analysis.tradeoff import analyse, claims, source, write
    from analysis.tradeoff.render import markdown

    if args.csv:
        (df, name), objectives = source.from_csv(args.csv), {}
    else:
        (df, objectives), name = source.from_mlflow(args.study, uri, args.experiment), args.study
    if args.objectives:
        objectives = source.parse_objectives(args.objectives)
    stated = claims.load(args.claims) if args.claims else None  # a bad file fails before the analysis
    result = analyse(df, objectives, study=name)
    print("\n".join(markdown(result)))
    out = args.out or f"tradeoff-{name}"
    written = list(write(result, out).values())
    if stated is not None:
        judged = claims.judge(stated, result.findings)
        print("\n".join(claims.markdown(judged)))
        written += claims.write(judged, out).values()
    for path in written:
        print(f"wrote {path}")


def _udr(args, uri: str) -> None:
    from analysis.runs import load_runs
    from analysis.study_udr import study_udr, write_back

    df = load_runs(args.study, tracking_uri=uri, experiment=args.experiment)
    scores = study_udr(df, uri, method=args.method)
    write_back(scores, df, uri)
    print(scores[["trial_id", "group", "udr"]].to_string(index=False))
    print(f"wrote udr to {len(scores)} trial runs of {args.study}; draw it with: python -m analysis pareto "
          f"--study {args.study} --y udr --tracking-uri {redact_uri(uri)}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars between our lines
    from analysis.runs import RunsError, list_studies, load_runs, study_parent_run

    uri = args.tracking_uri or default_tracking_uri()
    try:
        if args.command == "list":
            table = list_studies(uri, args.experiment)
            print(table.to_string(index=False) if len(table) else f"no studies at {redact_uri(uri)}")
            return 0
        if args.command == "udr":
            _udr(args, uri)
            return 0
        if args.command == "tradeoff":
            _tradeoff(args, uri)
            return 0
        objectives = {args.x: metric_sense(args.x, args.x_sense, "x"),
                      args.y: metric_sense(args.y, args.y_sense, "y")}
        df = load_runs(args.study, tracking_uri=uri, experiment=args.experiment)
        out = args.out or f"analysis-{args.study}"
        from analysis.report import write_report

        written = write_report(df, objectives, out, study=args.study, tracking_uri=uri)
        for path in written.values():
            print(f"wrote {path}")
        if "experiment_id" in df.columns and len(df):
            from analysis.runs import browse_hint

            print(f"browse the runs: {browse_hint(uri, df['experiment_id'].iloc[0])}")
        if args.log_to_mlflow:
            from mlflow.tracking import MlflowClient

            parent = study_parent_run(args.study, uri, args.experiment)
            MlflowClient(uri).log_artifacts(parent, out, Artifact.ANALYSIS_DIR)
            print(f"logged {out} to parent run {parent} under {Artifact.ANALYSIS_DIR}/")
    except RunsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
