"""Start-up cost of validating a config now that model types are read from their classes.

Usage: python benchmarks/startup.py [--repeats 5]

Each case runs in a fresh interpreter (as a user's command does) and is timed from process start
to exit; median and range over ``--repeats`` runs. Cases: the interpreter alone; ``import torch``;
loading and merging the quick preset without validating it (no torch); validating it (imports the
model classes, hence torch); ``python -m study.run --dry-run``; a config error
(``--latent-dims 0``), which is refused before any Ray work.
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
        "from study.config.loading import load_preset; from study.config.coercion import _build; "
        "from study.config import StudyConfig; _build(StudyConfig, load_preset('quick'), '')"],
    "make_config('quick') (validated)": [sys.executable, "-c",
                                         "from study.config import make_config; make_config('quick')"],
    "study.run --dry-run": [sys.executable, "-m", "study.run", "--dry-run"],
    "study.run with a config error": [sys.executable, "-m", "study.run", "--latent-dims", "0"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print("| case | median s | min–max s |\n|---|---|---|")
    for name, cmd in CASES.items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=False)
            times.append(time.perf_counter() - start)
        print(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f}–{max(times):.2f} |", flush=True)


if __name__ == "__main__":
    main()
