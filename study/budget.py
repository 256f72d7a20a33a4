"""How long a study will take, before it runs: trials × steps at the throughput measured here.

``benchmarks/throughput.py --save benchmarks/data/throughput.csv`` records training images per
second per device, architecture, model type, batch size, precision (fp32 or bf16) and torch threads
(the trial's own training step). A study's estimate is, per trial, ``steps × batch_size /
images_per_second`` for its model type at the precision the trial will resolve (``trial.amp`` on
this machine's CPU; on CUDA, auto is taken as bf16) and its threads (``resources.cpus``); the
device-hours multiply that by the trial's device share (``resources.gpus`` on a GPU cluster, its
CPUs otherwise), and the wall time divides the trial-hours by ``resources.max_concurrent``. Not
included: scoring (the full preset's DCI alone took minutes per model on a CPU,
benchmarks/README.md), start-up and checkpoint I/O; and packing several trials on one GPU is assumed
not to slow each one (measure it on the cluster before trusting a fractional-GPU figure).
"""

from __future__ import annotations

import csv
import os
from collections import Counter

from analysis.schema import Precision
from study.config import StudyConfig
from train.coercion import apply_overrides
from train.options import Amp

#: Where the measured throughput table lives in the repository.
DEFAULT_TABLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "benchmarks", "data", "throughput.csv")


def read_table(path: str) -> dict[tuple[str, str, str, int, str, int], float]:
    """(device, architecture, model_type, batch_size, precision, threads) → images/s (the last
    measurement wins). A table without the precision or threads column is fp32 at threads 0 (unknown)."""
    table = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["device"], row["architecture"], row["model_type"], int(row["batch_size"]),
                   row.get("precision") or str(Precision.FP32), int(row.get("threads") or 0))
            table[key] = float(row["images_per_second"])
    return table


def lookup(table: dict, device: str, architecture: str, model_type: str, batch_size: int, precision: str,
           threads: int) -> tuple[float, int] | None:
    """(images/s, threads of the row) for these settings: the row at ``threads``, else the most
    threads below, else the fewest above; None if no row has the other five."""
    rows = {k[5]: v for k, v in table.items() if k[:5] == (device, architecture, model_type, batch_size, precision)}
    if not rows:
        return None
    below = [t for t in rows if t <= threads]
    used = max(below) if below else min(rows)
    return rows[used], used


def expected_precision(config: StudyConfig, model_type: str, device: str) -> Precision:
    """The precision a trial of ``model_type`` will resolve: on CPU as this machine resolves it; on
    CUDA, auto is taken as bf16 (a GPU with bf16: A100, H100, L4, ...) unless the type keeps fp32."""
    import torch

    from train.device import resolve_precision
    from train.model_types import model_classes

    auto_bf16 = model_classes()[model_type].bf16_under_auto
    if device == "cuda":
        amp = Amp(config.trial.amp)
        return Precision.BF16 if amp is Amp.ON or (amp is Amp.AUTO and auto_bf16) else Precision.FP32
    return resolve_precision(config.trial.amp, torch.device("cpu"), auto_bf16)


def trial_counts(config: StudyConfig) -> Counter:
    """Trials per model type (a search's mix is unknown in advance: assumed even over its types)."""
    if config.space.mode == "search":
        types = config.space.model_types
        return Counter({m: config.num_trials() / len(types) for m in types})

    counts = Counter()
    for entry in config.space.configurations():
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
    threads = t.num_threads or max(1, int(config.resources.cpus))
    lines, total_hours, missing = [], 0.0, {}
    for model_type, n in trial_counts(config).items():
        precision = expected_precision(config, model_type, measured_on)
        found = lookup(table, measured_on, t.architecture, model_type, t.batch_size, precision, threads)
        if found is None:
            missing[model_type] = precision
            continue
        ips, row_threads = found
        hours = t.steps * t.batch_size / ips / 3600
        total_hours += hours * n
        at = f", {row_threads} thread{'s' * (row_threads != 1)}" if measured_on == "cpu" and row_threads else ""
        lines.append(f"#   {model_type:<14} {n:>7g} trials × {hours:8.2f} h "
                     f"({ips:,.0f} img/s on {measured_on}, {precision}{at}, batch {t.batch_size})")
    head = [f"# time estimate (training only, {t.architecture} network, at the throughput in "
            f"{os.path.relpath(path)}):"]
    if measured_on != device:
        head.append(f"#   no {device} throughput measured yet: figures below are for a {unit}; measure "
                    f"the cluster's with python benchmarks/throughput.py --device {device} --save {path}")
    concurrent = config.resources.max_concurrent
    tail = [f"#   total {total_hours:,.1f} trial-hours = {total_hours * share:,.1f} {unit}-hours at "
            f"{share:g} {unit}(s) per trial; {_duration(total_hours / concurrent)} wall at {concurrent} "
            f"trial{'s' * (concurrent != 1)} at a time" if lines
            else "#   no estimate: no model type of this study measured"]
    if missing:
        tail.append(_missing_line(t, missing, measured_on, threads, path, partial=bool(lines)))
    return head + lines + tail


def _duration(hours: float) -> str:
    """``hours`` as e.g. "38 min" below two hours, else "12.5 h"."""
    return f"{hours * 60:.0f} min" if hours < 2 else f"{hours:,.1f} h"


def _missing_line(t, missing: dict[str, Precision], device: str, threads: int, path: str, partial: bool) -> str:
    """What is not in the table (model type → its precision), whether it is left out of a total,
    and the command that measures it."""
    precisions = sorted(set(map(str, missing.values())))
    return (f"#   not measured for {', '.join(missing)} ({t.architecture}, batch {t.batch_size}, "
            f"{'/'.join(precisions)})"
            f"{': left out of the total' if partial else ''}; measure with python benchmarks/throughput.py "
            f"--device {device} --architectures {t.architecture} --batches {t.batch_size} "
            f"--models {','.join(missing)} --precisions {','.join(precisions)} --threads {threads} --save {path}")
