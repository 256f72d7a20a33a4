"""Scale benchmark: every part of a study but training, at 100 / 1,000 / 10,000 trials.

Usage (the table in benchmarks/notes/2026-11-27-scale.md says which command produced it):

    python benchmarks/scale.py --levels 100 --parts search,ray,load      # a quick look
    python benchmarks/scale.py --levels 100,1000,10000 --ray-max-trials 1000 --fill-to 10000

Parts (each prints its own table; :mod:`benchmarks.scale_search`, :mod:`benchmarks.scale_ray`,
:mod:`benchmarks.scale_load` say exactly what they measure):

* ``search``: Optuna suggestion latency per sampler (TPE multivariate, NSGA-II, random) at each
  level, on a study fed by ``tell`` with realistic values (no Ray).
* ``ray``: a study of N tracking-only trials on a simulated Ray cluster, driven by the study's own
  searcher: trials per minute, the driver's suggestion latency and peak memory, the trials' HTTP
  latency and errors, records lost, and ``python -m analysis pareto`` on the study.
* ``load``: the tracking server (SQLite, PostgreSQL) under 16 / 64 / 256 concurrent trial clients:
  request latency p50/p99, errors, time trials spent in tracker calls, records lost; then a study
  filled to ``--fill-to`` trial runs and ``python -m analysis pareto`` on it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import scale_load, scale_ray, scale_search  # noqa: E402
from benchmarks.scale_trial import TrialShape, params_template  # noqa: E402

MODEL_TYPES = ("ae", "vae", "beta_vae", "beta_tcvae")


PAUSE_FILE: str | None = None


def pause() -> None:
    """Wait while ``--pause-while FILE`` exists (another measurement on this machine wants quiet)."""
    while PAUSE_FILE and os.path.exists(PAUSE_FILE):
        time.sleep(20)


def stats(values) -> str:
    """``p50 / p99 (max)`` in ms, or a dash."""
    if not len(values):
        return "–"
    arr = np.asarray(values, dtype=float) * 1000
    return f"{np.percentile(arr, 50):.0f} / {np.percentile(arr, 99):.0f} ({arr.max():.0f})"


def search_part(args, folder: str) -> None:
    print("\n## Optuna suggestion latency (ms: p50 / p99 (max); one searcher.suggest each)\n")
    print(f"{args.in_flight} configurations in flight; {args.repeats} suggestions measured per cell.\n")
    print("| trials in study | sampler | history | p50 / p99 (max) ms | peak RSS MB |\n|---|---|---|---|---|")
    fills = {}
    for sampler in args.samplers:
        filler = "nsga2" if sampler == "nsga2" else "random"
        if filler not in fills:
            pause()
            started = time.perf_counter()
            fills[filler] = scale_search.fill(folder, filler, args.levels, args.in_flight)
            print(f"<!-- filled by {filler} to {max(args.levels)} in {time.perf_counter() - started:.0f} s -->")
        for level in args.levels:
            for label, options in history_variants(args, sampler):
                pause()
                out = scale_search.measure_in_child(fills[filler][level], sampler, args.repeats, args.in_flight,
                                                    options)
                print(f"| {level:,} | {sampler} | {label} | {stats(out['latencies'])} | {out['peak_rss_mb']:.0f} |",
                      flush=True)


def history_variants(args, sampler: str) -> list[tuple[str, dict]]:
    """The searcher's history setting(s) to measure: the config default, and with ``--compare-
    history`` also the unbounded history (what the study did before the cap)."""
    from study.config.sections import SearchConfig

    default = {"history_limit": SearchConfig().history_limit}
    if sampler != "tpe":
        return [("–", default)]
    if not args.compare_history:
        return [(f"limit {default['history_limit']}", default)]
    return [("all trials", {"history_limit": 0}), (f"limit {default['history_limit']}", default)]


def analysis_seconds(url: str, study: str, repeats: int, out: str) -> list[float]:
    """Wall seconds of ``python -m analysis pareto`` (load the runs, front, figures, report)."""
    seconds = []
    for i in range(repeats):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "analysis", "pareto", "--study", study, "--tracking-uri", url,
                               "--x", "blur", "--y", "mig", "--out", f"{out}-{i}"], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"analysis pareto failed: {done.stderr[-2000:]}")
        seconds.append(time.perf_counter() - started)
    return seconds


def lost_text(lost: dict) -> str:
    return "0" if not any(lost.values()) else ", ".join(f"{k} {v:+d}" for k, v in lost.items() if v)


def shape(args) -> TrialShape:
    return TrialShape(reports=args.reports, report_interval=args.report_interval, model_kb=args.model_kb)


def ray_part(args, folder: str, templates: dict) -> None:
    print(f"\n## Ray study: tracking-only trials ({args.nodes} nodes × {args.cpus_per_node} CPUs × "
          f"{args.gpus_per_node} GPUs logical; {args.ray_concurrency} concurrent; {args.ray_backend} server)\n")
    print("| trials | wall s | trials/min (steady) | suggest ms p50/p99 (max) | driver peak RSS MB | "
          "HTTP ms p50/p99 (max) | HTTP errors | lost | analysis pareto s |\n|---|---|---|---|---|---|---|---|---|")
    for level in [n for n in args.levels if n <= args.ray_max_trials]:
        pause()
        server = scale_load.start_server(args.ray_backend, os.path.join(folder, f"ray-{level}"))
        try:
            out = scale_ray.run_level_in_child({
                "name": f"ray-{level}", "root": os.path.join(folder, f"ray-{level}", "runs"), "uri": server.url,
                "trials": level, "sampler": args.ray_sampler, "concurrency": args.ray_concurrency, "gpu": args.gpu,
                "nodes": args.nodes, "cpus_per_node": args.cpus_per_node, "gpus_per_node": args.gpus_per_node,
                "shape": shape(args).__dict__, "templates": templates, "background": not args.sync_tracking})
            sent, seconds, errors = scale_ray.trial_logs(out["study_dir"])
            lost = scale_load.lost(sent, scale_load.count_records(server, out["parent"]))
            pareto = analysis_seconds(server.url, f"ray-{level}", args.analysis_repeats,
                                      os.path.join(folder, f"ray-{level}", "analysis"))
        finally:
            server.stop()
        ends = np.asarray(out["trial_ends"], dtype=float)
        lo, hi = np.percentile(ends, [10, 90]) if len(ends) > 10 else (0, 0)
        steady = 0.8 * len(ends) / (hi - lo) * 60 if hi > lo else float("nan")
        print(f"| {level:,} | {out['fit_seconds']:.0f} | {level / out['fit_seconds'] * 60:.0f} ({steady:.0f}) | "
              f"{stats(out['suggest_seconds'])} | {out['peak_rss_mb']:.0f} | {stats(seconds)} | "
              f"{len(errors)} {summary(errors)}| "
              f"{lost_text(lost)} | {min(pareto):.1f}–{max(pareto):.1f} |", flush=True)
        print(f"<!-- ray {level}: trial errors {out['errors']}, end of study {out['end_seconds']:.1f} s "
              f"(replayed {out['replayed']}, duplicate runs removed {out['duplicates']}, "
              f"abandoned {out['abandoned']}) -->", flush=True)


def load_part(args, folder: str, templates: dict) -> None:
    from study import tracking

    print(f"\n## Tracking server under load ({args.server_workers or 'default'} server worker(s); "
          f"{args.client_processes} client processes; trials {args.reports} reports {args.report_interval} s "
          f"apart, {args.model_kb} KiB model)\n")
    print("| backend | clients | trials | req/s | HTTP ms p50/p99 (max) | HTTP errors | log call ms p50/p99 (max) | "
          "start ms | finish ms | calls left to the final sync (its time) | duplicate runs removed | lost |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|")
    for backend in args.backends:
        root = os.path.join(folder, f"load-{backend}")
        server = scale_load.start_server(backend, root)
        try:
            for clients in args.clients:
                pause()
                study = f"load-{clients}"
                parent = tracking.start_study_run(server.url, scale_load.EXPERIMENT, study, {}, {})
                buffers = os.path.join(root, study, "tracking-buffer")
                out = scale_load.run_load(server.url, parent, study, buffers, clients, args.trials_per_client,
                                          shape(args), templates, args.client_processes,
                                          background=not args.sync_tracking)
                started = time.perf_counter()
                replayed = tracking.sync_study(server.url, os.path.join(root, study), timeout=args.sync_timeout)
                sync_seconds = time.perf_counter() - started
                duplicates = tracking.remove_duplicate_runs(server.url, parent)
                lost = scale_load.lost(out["sent"], scale_load.count_records(server, parent))
                print(f"| {backend} | {clients} | {out['sent'].runs} | "
                      f"{len(out['request_seconds']) / out['wall_seconds']:.0f} | {stats(out['request_seconds'])} | "
                      f"{len(out['errors'])} {summary(out['errors'])}| {stats(out['sent'].log_seconds)} | "
                      f"{stats(out['sent'].start_seconds)} | {stats(out['sent'].finish_seconds)} | {replayed} "
                      f"({sync_seconds:.0f} s) | "
                      f"{len(duplicates)} | "
                      f"{lost_text(lost)} |", flush=True)
                requests = len(out["request_seconds"])
                print(f"<!-- load {backend} {clients}: {requests} requests in {out['wall_seconds']:.0f} s, "
                      f"{requests / out['sent'].runs:.1f} per trial -->", flush=True)
            if args.fill_to and backend in args.fill_backends:
                fill_and_analyse(args, server, root, templates)
        finally:
            server.stop()


def summary(errors: list[str]) -> str:
    kinds = {e: errors.count(e) for e in set(errors)}
    return "(" + ", ".join(f"{k} ×{v}" for k, v in kinds.items()) + ") " if kinds else ""


def fill_and_analyse(args, server, root: str, templates: dict) -> None:
    """A study of ``--fill-to`` trial runs written straight into the store
    (:func:`benchmarks.scale_load.fill_direct`), then ``python -m analysis pareto`` on it through
    the server, as a user runs it."""
    from study import tracking

    pause()
    study = f"fill-{args.fill_to}"
    parent = tracking.start_study_run(server.url, scale_load.EXPERIMENT, study, {}, {})
    started = time.perf_counter()
    scale_load.fill_direct(server, parent, study, args.fill_to, templates, shape(args))
    filled = time.perf_counter() - started
    pareto = analysis_seconds(server.url, study, args.analysis_repeats, os.path.join(root, "analysis"))
    print(f"\n{server.backend}: a study of {args.fill_to:,} trial runs (written straight into the store in "
          f"{filled:.0f} s); python -m analysis pareto through the server: "
          f"{', '.join(f'{s:.1f}' for s in pareto)} s\n", flush=True)


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ints = lambda text: [int(x) for x in text.split(",")]  # noqa: E731
    words = lambda text: text.split(",")  # noqa: E731
    p.add_argument("--levels", type=ints, default=[100, 1000, 10000], help="Trial counts (default 100,1000,10000).")
    p.add_argument("--parts", type=words, default=["search", "ray", "load"], help="search,ray,load")
    p.add_argument("--root", default=None, help="Working folder: a new timestamped one is made in it (default: a "
                                                "new one under /tmp); kept, with the stores and logs.")
    p.add_argument("--samplers", type=words, default=["tpe", "nsga2", "random"])
    p.add_argument("--repeats", type=int, default=30, help="Suggestions measured per sampler and level.")
    p.add_argument("--in-flight", type=int, default=16, help="Configurations out while measuring suggestions.")
    p.add_argument("--compare-history", action="store_true", help="Also measure TPE with its whole history.")
    p.add_argument("--ray-max-trials", type=int, default=1000, help="Largest level run as a Ray study.")
    p.add_argument("--ray-concurrency", type=int, default=16)
    p.add_argument("--ray-sampler", default="tpe")
    p.add_argument("--ray-backend", default="sqlite", choices=("sqlite", "postgres"))
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--cpus-per-node", type=int, default=16)
    p.add_argument("--gpus-per-node", type=int, default=4)
    p.add_argument("--gpu", type=float, default=0.25, help="GPU share per trial.")
    p.add_argument("--backends", type=words, default=["sqlite", "postgres"])
    p.add_argument("--server-workers", type=int, default=None,
                   help="Processes of the MLflow server (default: cluster.mlflow_server's, 4 on PostgreSQL, 1 on "
                        "SQLite).")
    p.add_argument("--clients", type=ints, default=[16, 64, 256])
    p.add_argument("--trials-per-client", type=int, default=2)
    p.add_argument("--client-processes", type=int, default=8)
    p.add_argument("--reports", type=int, default=10, help="Curve batches per trial.")
    p.add_argument("--report-interval", type=float, default=1.0, help="Seconds between a trial's curve batches.")
    p.add_argument("--model-kb", type=int, default=2048)
    p.add_argument("--fill-to", type=int, default=0, help="Also fill a study to this many trial runs and analyse it.")
    p.add_argument("--fill-backends", type=words, default=["sqlite", "postgres"])
    p.add_argument("--analysis-repeats", type=int, default=3)
    p.add_argument("--sync-timeout", type=float, default=3600.0,
                   help="Seconds the final sync retries a busy server (the driver's default is 300: tracking_wait).")
    p.add_argument("--pause-while", default=None, help="Before each measurement, wait while this file exists.")
    p.add_argument("--sync-tracking", action="store_true",
                   help="Trials send every call at once and wait for it (the tracker before the background sender).")
    return p.parse_args(argv)


def main(argv=None) -> int:
    global PAUSE_FILE
    args = parse(argv)
    PAUSE_FILE = args.pause_while
    if args.server_workers:
        os.environ["MLFLOW_SERVER_WORKERS"] = str(args.server_workers)  # read by cluster.mlflow_server
    folder = (os.path.join(args.root, time.strftime("%Y%m%d-%H%M%S")) if args.root
              else tempfile.mkdtemp(prefix="betasweep-scale-"))
    os.makedirs(folder)
    print(f"# betasweep scale benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs; "
          f"folder {folder})\n\ncommand: python benchmarks/scale.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    templates = params_template(None, MODEL_TYPES) if {"ray", "load"} & set(args.parts) else {}
    if "search" in args.parts:
        search_part(args, folder)
    if "ray" in args.parts:
        ray_part(args, folder, templates)
    if "load" in args.parts:
        load_part(args, folder, templates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
