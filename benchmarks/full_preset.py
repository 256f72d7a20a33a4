"""Seconds of each step of the ``full`` metric preset on a trained model, and every score.

Usage:
    python benchmarks/full_preset.py --checkpoint DIR [--threads 2] [--json OUT.json]
        [--save-codes CODES.npy | --codes CODES.npy]
    python benchmarks/full_preset.py --compare A.json B.json

``DIR`` is a checkpoint folder written by ``python -m train --checkpoint-dir``. The steps run
in the order ``analysis.metrics.scoring`` runs them, on one numpy stream (seed 0), so two versions
of the code given the same codes must print the same scores to the last digit: ``--compare`` lists
every score of two ``--json`` files side by side with its difference (and the SE of the first).
Each step's wall and process CPU seconds are printed (CPU counts every thread; on a shared machine
it is the steadier number for a one-thread step). The same script times the code before a change:
run it in a checkout of the older commit with ``--jobs 1 --encoding fp32`` (it then passes neither
argument on). ``--save-codes`` keeps the encoded factor grid (737,280 × D float64 for dSprites) and ``--codes``
reads it back instead of encoding, to time the metrics alone or score other codes. ``--end-to-end``
adds one ``score_model(which="full")`` call, as a trial makes it, with its wall time.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import time

import numpy as np
import torch

from analysis.metrics import PRESETS, GridCodes, make_represent, score_model
from analysis.metrics._common import seed_from
from analysis.metrics.scoring import _split, code_source
from train.checkpoints import load_checkpoint_model
from train.data import dsprites


class TableCodes(GridCodes):
    """A whole-grid code source read from a saved table instead of encoded."""

    def __init__(self, data, table: np.ndarray):  # no encoding: the parent's __init__ is not called
        self.data, self.represent, self.factor_sizes = data, None, tuple(data.factor_sizes)
        self.table = table


def metric_steps(p, n_jobs: int = 1):
    """(name, fn(source, rng) -> scores) of the preset's factor metrics, in scoring's order."""
    from analysis.metrics import (
        beta_vae_score,
        dci,
        factor_vae_score,
        irs,
        mig_with_se,
        modularity_explicitness,
        sap_with_se,
    )

    def beta(c, rng):
        b = beta_vae_score(c, rng, p.batch_size, p.beta_vae_train, p.beta_vae_eval)
        return {"beta_vae_score": b["eval_accuracy"], "beta_vae_score_se": b["eval_accuracy_se"],
                "beta_vae_train_accuracy": b["train_accuracy"]}

    def factor(c, rng):
        f = factor_vae_score(c, rng, p.batch_size, p.factor_vae_train, p.factor_vae_eval, p.factor_vae_variance)
        return {"factor_vae_score": f["eval_accuracy"], "factor_vae_score_se": f["eval_accuracy_se"]}

    def mig(c, rng):
        factors, codes = c.sample(p.mig_points, rng)
        return dict(zip(("mig", "mig_se"), mig_with_se(codes, factors, rng, num_resamples=p.bootstrap), strict=True))

    jobs = {} if n_jobs == 1 else {"n_jobs": n_jobs}

    def dci_(c, rng):
        (tf, tc), (ef, ec) = _split(c, p.dci_train, p.dci_test, rng)
        d = dci(tc, tf, ec, ef, random_state=seed_from(rng), rng=rng, **jobs)
        return {f"dci_{k}": v for k, v in d.items()}

    def sap(c, rng):
        (tf, tc), (ef, ec) = _split(c, p.sap_train, p.sap_test, rng)
        return dict(zip(("sap", "sap_se"), sap_with_se(tc, tf, ec, ef, rng, p.bootstrap), strict=True))

    def modularity(c, rng):
        (tf, tc), (ef, ec) = _split(c, p.modularity_train, p.modularity_test, rng)
        return modularity_explicitness(tc, tf, ec, ef, rng=rng, num_resamples=p.bootstrap)

    def irs_(c, rng):
        factors, codes = c.sample(p.irs_points, rng)
        return {f"irs_{k}": v for k, v in irs(codes, factors, rng=rng, num_resamples=p.bootstrap).items()}

    return [("beta_vae_score (10,000 / 5,000)", beta), ("factor_vae_score (10,000 / 5,000)", factor),
            ("mig (10,000 + bootstrap)", mig), ("dci (10,000 / 5,000)", dci_),
            ("sap (10,000 / 5,000 + bootstrap)", sap),
            ("modularity + explicitness (10,000 / 5,000 + bootstrap)", modularity),
            ("irs (10,000 + bootstrap)", irs_)]


class Clock:
    """Wall and process CPU seconds (all threads) of a block: ``with Clock() as c: ...; c.wall, c.cpu``."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def timed_steps(model, data, args) -> tuple[list[tuple[str, float, float]], dict]:
    """(step, wall s, CPU s) of the code source and each metric, and every score."""
    p = PRESETS["full"]
    rng = np.random.default_rng(0)
    # only the arguments the code under test has (the before column ran an older make_represent and dci)
    encoding = {} if args.encoding == "fp32" else {"encoding": args.encoding}
    with Clock() as clock:
        if args.codes:
            source, name = TableCodes(data, np.load(args.codes)), f"grid codes read from {args.codes}"
        else:
            source = code_source(data, make_represent(model, args.batch, **encoding), rng, p)
            name = f"grid encode ({len(source.table):,} images, {args.encoding}, batch {args.batch})"
    rows = [(name, clock.wall, clock.cpu)]
    if args.save_codes:
        np.save(args.save_codes, source.table)
    scores = {}
    for name, step in metric_steps(p, args.jobs):
        with Clock() as clock:
            scores.update(step(source, rng))
        rows.append((name, clock.wall, clock.cpu))
        print(f"  {name}: {clock.wall:.1f} s (CPU {clock.cpu:.1f} s)", flush=True)
    return rows, scores


def compare(a_path: str, b_path: str) -> None:
    a, b = (json.load(open(path)) for path in (a_path, b_path))
    print(f"| score | {a_path} | {b_path} | difference | SE ({a_path}) |\n|---|---|---|---|---|")
    for key, value in a["scores"].items():
        if key.endswith("_se") or not isinstance(value, (int, float)):
            continue
        other = b["scores"].get(key, math.nan)
        se = a["scores"].get(f"{key}_se")
        se_text = f"{se:.4f}" if isinstance(se, (int, float)) else "–"
        print(f"| {key} | {value:.6f} | {other:.6f} | {other - value:+.2e} | {se_text} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="Checkpoint folder of a trained model.")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2).")
    full = PRESETS["full"]  # an older version of the code has neither field: fp32, 1024 images a call
    parser.add_argument("--encoding", default=getattr(full, "encoding", "fp32"),
                        help="How the encoder runs (scoring.ENCODINGS; default the preset's).")
    parser.add_argument("--batch", type=int, default=getattr(full, "encode_batch", 1024),
                        help="Images per encoder call (default the preset's).")
    parser.add_argument("--jobs", type=int, default=None, help="Fits at once (DCI); default --threads.")
    parser.add_argument("--json", help="Write the seconds and scores here.")
    parser.add_argument("--codes", help="Read the grid's codes from this .npy instead of encoding.")
    parser.add_argument("--save-codes", help="Save the encoded grid's codes to this .npy.")
    parser.add_argument("--end-to-end", action="store_true", help="Also time score_model(which='full').")
    parser.add_argument("--compare", nargs=2, metavar="JSON", help="Compare the scores of two --json files.")
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    torch.set_num_threads(args.threads)
    args.jobs = args.threads if args.jobs is None else args.jobs
    folder = (sorted(glob.glob(os.path.join(args.checkpoint, "step_*"))) or [args.checkpoint])[-1]
    model = load_checkpoint_model(folder)[0]
    data = dsprites()
    print(f"model: {model.config} from {folder}; {torch.get_num_threads()} torch threads", flush=True)
    rows, scores = timed_steps(model, data, args)
    if args.end_to_end:
        with Clock() as clock:
            score_model(model, data, np.random.default_rng(0), which="full", n_jobs=args.jobs)
        rows.append(("score_model(which='full'), end to end", clock.wall, clock.cpu))
    print("\n| step | wall s | CPU s |\n|---|---|---|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall:.1f} | {cpu:.1f} |")
    steps = [row for row in rows if "end to end" not in row[0]]
    print(f"| **sum of the steps** | **{sum(r[1] for r in steps):.1f}** | **{sum(r[2] for r in steps):.1f}** |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"seconds": {r[0]: r[1:] for r in rows}, "scores": scores}, handle, indent=1, default=float)

if __name__ == "__main__":
    main()
