"""How long a study will take, before it runs: trials × steps at the throughput measured here.

``benchmarks/throughput.py --save benchmarks/data/throughput.csv`` records training images per
second per device, architecture, model type and batch size (the trial's own training step). A
study's estimate is, per trial, ``steps × batch_size / images_per_second`` for its model type; the
device-hours multiply that by the trial's device share (``resources.gpus`` on a GPU cluster, its
CPUs otherwise). Not included: scoring (the full preset's DCI alone took minutes per model on a
CPU, benchmarks/README.md), start-up and checkpoint I/O; and packing several trials on one GPU is
assumed not to slow each one (measure it on the cluster before trusting a fractional-GPU figure).
"""

from __future__ import annotations

import csv
import os
from collections import Counter

from study.config import StudyConfig, apply_overrides

#: Where the measured throughput table lives in the repository.
DEFAULT_TABLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "benchmarks", "data", "throughput.csv")


def read_table(path: str) -> dict[tuple[str, str, str, int], float]:
    """(device, architecture, model_type, batch_size) → images/s (the last measurement wins)."""
    table = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["device"], row["architecture"], row["model_type"], int(row["batch_size"]))
            table[key] = float(row["images_per_second"])
    return table


def trial_counts(config: StudyConfig) -> Counter:
    """Trials per model type (a search's mix is unknown in advance: assumed even over its types)."""
    if config.space.mode == "search":
        types = config.space.model_types
        return Counter({m: config.num_trials() / len(types) for m in types})
    from study.space import configurations

    counts = Counter()
    for entry in configurations(config.space):
        counts[apply_overrides(config.trial, entry).model_type] += config.space.seeds_per_config
    return counts


def estimate_lines(config: StudyConfig, path: str = DEFAULT_TABLE) -> list[str]:
    """The ``--dry-run`` lines: trials per model type and the estimated hours, or what is missing."""
    if not os.path.exists(path):
        return [f"# time estimate: no throughput table at {path}; measure one with "
                f"python benchmarks/throughput.py --save {path}"]
    table = read_table(path)
    device = "cuda" if config.resources.gpus > 0 else "cpu"
    measured_on = device if any(k[0] == device for k in table) else "cpu"
    share = config.resources.gpus if measured_on == "cuda" else config.resources.cpus
    unit = "GPU" if measured_on == "cuda" else "CPU"
    t = config.trial
    lines, total_hours, missing = [], 0.0, []
    for model_type, n in trial_counts(config).items():
        ips = table.get((measured_on, t.architecture, model_type, t.batch_size))
        if ips is None:
            missing.append(model_type)
            continue
        hours = t.steps * t.batch_size / ips / 3600
        total_hours += hours * n
        lines.append(f"#   {model_type:<14} {n:>7g} trials × {hours:8.2f} h "
                     f"({ips:,.0f} img/s on {measured_on}, batch {t.batch_size})")
    head = [f"# time estimate (training only, {t.architecture} network, at the throughput in "
            f"{os.path.relpath(path)}):"]
    if measured_on != device:
        head.append(f"#   no {device} throughput measured yet: figures below are for a {unit}; measure "
                    f"the cluster's with python benchmarks/throughput.py --device {device} --save {path}")
    tail = [f"#   total {total_hours:,.1f} trial-hours = {total_hours * share:,.1f} {unit}-hours at "
            f"{share:g} {unit}(s) per trial" if lines else "#   no estimate: no model type of this study measured"]
    if missing:
        tail.append(_missing_line(t, missing, measured_on, path, partial=bool(lines)))
    return head + lines + tail


def _missing_line(t, missing: list[str], device: str, path: str, partial: bool) -> str:
    """What is not in the table, whether it is left out of a total, and the command that measures it."""
    return (f"#   not measured for {', '.join(missing)} ({t.architecture}, batch {t.batch_size})"
            f"{': left out of the total' if partial else ''}; measure with python benchmarks/throughput.py "
            f"--device {device} --architectures {t.architecture} --batches {t.batch_size} "
            f"--models {','.join(missing)} --save {path}")
