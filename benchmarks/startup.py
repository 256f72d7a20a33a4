"""Start-up costs: validating a config, and what a Ray actor's first trial imports.

Usage: python benchmarks/startup.py [--repeats 5] [--cases trial]

Each case runs in a fresh interpreter (as a user's command, or a new Ray actor, does) and is timed
from process start to exit; median and range over ``--repeats`` runs. Cases: the interpreter alone;
``import torch``; loading and merging the quick preset without validating it (no torch); validating
it (imports the model classes, hence torch); ``python -m study.run --dry-run``; a config error
(``--latent-dims 0``), which is refused before any Ray work. Then, with ``--cases trial`` alone:
what an actor imports before its first trial (``ray.tune``, the trainable's module, the trial), the
same plus the scoring package (``analysis.metrics.score_model``, as the first scoring imports it),
and a whole 2-step trial scored with the ``recon`` preset (imports, data, model, scoring, figures).
Run from the repository root: the interpreters import the code under the working directory.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import torch": [sys.executable, "-c", "import torch"],
    "load + merge quick (no validation)": [
        sys.executable, "-c",
        "from study.config.loading import load_preset; from study.config.coercion import build; "
        "from study.config import StudyConfig; build(StudyConfig, load_preset('quick'), '')"],
    "make_config('quick') (validated)": [sys.executable, "-c",
                                         "from study.config import make_config; make_config('quick')"],
    "study.run --dry-run": [sys.executable, "-m", "study.run", "--dry-run"],
    "study.run with a config error": [sys.executable, "-m", "study.run", "--latent-dims", "0"],
}

_ACTOR = "import ray.tune, study.trainable, train.trial"
_TRIAL = ("from train.validation import trial_from_dict; from train.trial import train_and_evaluate; "
          "train_and_evaluate(trial_from_dict(dict(model_type='beta_vae', latent_dim=4, batch_size=32, steps=2, "
          "report_every=2, val_size=64, eval_size=1024, metrics='recon', num_threads=1)))")
TRIAL_CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "an actor's imports: ray.tune, study.trainable, train.trial": [sys.executable, "-c", _ACTOR],
    "the same + analysis.metrics.score_model (first scoring)": [
        sys.executable, "-c", f"{_ACTOR}; from analysis.metrics import score_model"],
    "the same + a 2-step trial scored with recon": [sys.executable, "-c", f"{_ACTOR}; {_TRIAL}"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", choices=("config", "trial"), default="config",
                        help="config validation (default) or an actor's first trial")
    args = parser.parse_args()
    print("| case | median s | min–max s |\n|---|---|---|")
    for name, cmd in (TRIAL_CASES if args.cases == "trial" else CASES).items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=args.cases == "trial")
            times.append(time.perf_counter() - start)
        print(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f}–{max(times):.2f} |", flush=True)


if __name__ == "__main__":
    main()
