"""Training throughput (images/s) per architecture × model type × batch size × precision × threads.

Usage: python benchmarks/throughput.py [--quick] [--architectures A,B] [--device cpu|cuda] [--threads 2,1]
       [--precisions fp32,bf16] [--save CSV]
       python benchmarks/throughput.py --versus-plain [--threads 2,1]
       python benchmarks/throughput.py --trained [--train-steps 3000 | --checkpoint DIR] [--late]

The step timed is the trial's own training step (``train.steps.train_step``): a batch of procedural
dSprites generated on the device (one gather), forward, loss, backward, Adam (foreach), and for
FactorVAE the discriminator's step on a second batch; ``fp32`` is ``amp: false``, ``bf16`` is
``amp: true`` (the networks under bf16 autocast, the loss's fp32 islands), both with the trial's
default channels-last convolution weights on the CPU; ``--nchw`` adds both without them
(``channels_last: false``) for comparison. ``--save`` appends the
rows to a CSV that ``python -m study.run --dry-run`` reads to estimate a study's device-hours
(benchmarks/data/throughput.csv), by the precision and thread count a trial resolves. Per case the
precisions are timed in alternated windows after warm-up steps (the median of ``--repeats``
windows of ``--steps`` steps), so load from elsewhere hits them alike. Thread counts run from the
most to the fewest in one process whose flush-to-zero is set before the intra-op pool starts, as a
trial does. FLOPs of one step (forward + backward) are counted with torch.utils.flop_counter; the
peak is measured in the same run as the FLOP/s of a 2048² matmul in each precision.

``--versus-plain`` times the trial's default step (``amp: auto``) of the Burgess VAE next to a
plain fp32 PyTorch loop of the same model (benchmarks/trained_step.py's), alternated windows.
``--trained`` (benchmarks/trained_step.py) times the fp32 step at a trained checkpoint, with and
without flush-to-zero, next to the same plain loop.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from models import ARCHITECTURES, MODELS
from train.data import dsprites
from train.device import autocast, configure_cpu, denormals_flushed
from train.steps import train_step
from train.trial_run import setup
from train.validation import trial_from_dict

PRECISIONS = ("fp32", "bf16")
COLUMNS = ("device", "architecture", "model_type", "batch_size", "precision", "threads", "images_per_second")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
#: Networks ~10× slower per image than Burgess's on a CPU: fewer steps per timing by default.
SLOW_ARCHITECTURES = ("seed_report",)


def matmul_peak(device: torch.device, precision: str = "fp32", n: int = 2048, reps: int = 10) -> float:
    a, b = (torch.randn(n, n, device=device, dtype=DTYPES[precision]) for _ in range(2))
    a @ b
    _sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_flops(run, batch: int) -> float:
    """FLOPs of the main forward and backward (the discriminator's step is not counted)."""
    x = run.data.train_batch(batch, run.generator)
    with FlopCounterMode(display=False) as counter:
        with autocast(run.device, run.precision):
            out = run.model(x)
            loss = run.model.loss(x, out).loss
        loss.backward()
    run.model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def stepper(run):
    """One call = ``n`` trial training steps (synchronised)."""
    sums: dict = {}

    def go(n: int) -> None:
        for _ in range(n):
            train_step(run, run.model, sums)
        _sync(run.device)

    return go


def timed(steppers: dict, steps: int, repeats: int) -> dict[str, list[float]]:
    """Seconds of ``steps`` steps per stepper, ``repeats`` alternated rounds after 3 warm-up steps each."""
    for go in steppers.values():
        go(3)
    seconds: dict[str, list[float]] = {k: [] for k in steppers}
    for r in range(repeats):
        for key in (list(steppers) if r % 2 == 0 else list(reversed(steppers))):
            t = time.perf_counter()
            steppers[key](steps)
            seconds[key].append(time.perf_counter() - t)
    return seconds


def measure(model_type: str, arch: str, batch: int, device, steps: int, repeats: int,
            precisions=PRECISIONS, nchw: bool = False) -> dict[str, tuple[float, float]]:
    """Variant → (images/s, FLOP/s) of the trial's step, the variants alternated: each precision,
    and with ``nchw`` each precision without channels-last weights ("fp32 nchw", "bf16 nchw")."""
    data = dsprites(device)
    runs = {}
    for p in [*precisions, *(f"{p} nchw" for p in precisions if nchw)]:
        config = trial_from_dict({"model_type": model_type, "latent_dim": 10, "architecture": arch,
                                  "batch_size": batch, "steps": 10**6, "device": device.type,
                                  "amp": p.startswith("bf16"), "channels_last": not p.endswith("nchw")})
        runs[p] = setup(config, data=data)
        runs[p].model.train()
    seconds = timed({p: stepper(run) for p, run in runs.items()}, steps, repeats)
    out = {}
    for p, run in runs.items():
        ips = steps * batch / statistics.median(seconds[p])
        out[p] = (ips, step_flops(run, batch) * ips / batch)
    return out


def versus_plain(threads: int, steps: int, repeats: int) -> str:
    """A Markdown row: the trial's default VAE step (amp auto) and a plain fp32 loop, alternated."""
    from trained_step import plain_stepper

    configure_cpu(threads)
    config = trial_from_dict({"model_type": "vae", "latent_dim": 10, "batch_size": 64, "steps": 10**6,
                              "device": "cpu", "num_threads": threads})
    run = setup(config)
    run.model.train()
    plain = plain_stepper(None, threads)
    seconds = timed({"trial": stepper(run), "plain": lambda n: [plain() for _ in range(n)]}, steps, repeats)
    rate = {k: [steps * 64 / s for s in v] for k, v in seconds.items()}
    ratios = [p / t for t, p in zip(seconds["trial"], seconds["plain"], strict=True)]
    med = {k: statistics.median(v) for k, v in rate.items()}
    return (f"| {threads} | {run.precision} | {med['trial']:.0f} [{min(rate['trial']):.0f}–{max(rate['trial']):.0f}] | "
            f"{med['plain']:.0f} [{min(rate['plain']):.0f}–{max(rate['plain']):.0f}] | "
            f"{statistics.median(ratios):.2f}× [{min(ratios):.2f}–{max(ratios):.2f}] |")


def parse_args() -> tuple[argparse.Namespace, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Burgess only, fewer steps.")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="Device (default: cuda if available, else cpu).")
    parser.add_argument("--threads", default="2,1", help="Comma-separated torch thread counts, run from the "
                                                         "most to the fewest (default 2,1; 0 = torch's default).")
    parser.add_argument("--precisions", default="fp32,bf16", help="Comma-separated: fp32, bf16 (default both).")
    parser.add_argument("--nchw", action="store_true", help="Also time each precision without channels-last "
                                                            "weights (not saved).")
    parser.add_argument("--steps", type=int, default=None, help="Steps per timing.")
    parser.add_argument("--repeats", type=int, default=3, help="Timings per case (median reported).")
    parser.add_argument("--models", default=None, help="Comma-separated model types (default: all).")
    parser.add_argument("--architectures", default=None,
                        help=f"Comma-separated architectures (default: all: {', '.join(ARCHITECTURES)}).")
    parser.add_argument("--batches", default="64,256", help="Comma-separated batch sizes (default: 64,256).")
    parser.add_argument("--save", default=None, help="Append the rows to this CSV (" + ", ".join(COLUMNS) + ").")
    parser.add_argument("--versus-plain", action="store_true",
                        help="The trial's default VAE step against a plain fp32 PyTorch loop, per thread count.")
    trained = parser.add_argument_group("trained checkpoint (CPU): init/trained × flush-to-zero × plain loop")
    trained.add_argument("--trained", action="store_true", help="Run this mode instead of the table above.")
    trained.add_argument("--train-steps", type=int, default=3000, help="Steps to train the checkpoint.")
    trained.add_argument("--checkpoint", default=None, help="Use this trial checkpoint folder instead "
                                                            "(a VAE with latent_dim 10 on dSprites).")
    trained.add_argument("--cache-dir", default=None, help="Where the trained checkpoint is cached "
                                                           "(default: <tempdir>/betasweep-bench).")
    trained.add_argument("--late", action="store_true", help="Also time flush-to-zero set after the "
                                                             "intra-op pool started.")
    return parser.parse_args(), parser


def table_rows(args, device, archs: list[str], model_types: list[str], threads: int) -> list[tuple]:
    """Print the table of one thread count (its peaks first) and return its CSV rows."""
    precisions = tuple(args.precisions.split(","))
    peaks = {p: matmul_peak(device, p) for p in precisions}
    print(f"\ndevice {device}, torch threads {threads}, flush-to-zero on {denormals_flushed():.0%} of them, "
          "peak (2048² matmul) " + ", ".join(f"{p} {v / 1e9:.1f} GFLOP/s" for p, v in peaks.items()), flush=True)
    variants = [*precisions, *(f"{p} nchw" for p in precisions if args.nchw)]
    print("| arch | model | batch | threads | " + " | ".join(f"{p} img/s" for p in variants)
          + " | bf16/fp32 | " + " | ".join(f"{p} GFLOP/s (% of peak)" for p in precisions) + " |", flush=True)
    print("|" + "---|" * (5 + len(variants) + len(precisions)), flush=True)
    rows = []
    for arch in archs:
        for batch in (int(b) for b in args.batches.split(",")):
            steps = args.steps or max(3, (4 if arch in SLOW_ARCHITECTURES else 40) * 64 // batch)
            for model_type in model_types:
                result = measure(model_type, arch, batch, device, steps, args.repeats, precisions, args.nchw)
                rows += [(device.type, arch, model_type, batch, p, threads, round(result[p][0], 1))
                         for p in precisions]
                ratio = f"{result['bf16'][0] / result['fp32'][0]:.2f}×" if {"fp32", "bf16"} <= set(result) else "–"
                print(f"| {arch} | {model_type} | {batch} | {threads} | "
                      + " | ".join(f"{result[p][0]:.0f}" for p in variants) + f" | {ratio} | "
                      + " | ".join(f"{result[p][1] / 1e9:.1f} ({100 * result[p][1] / peaks[p]:.0f}%)"
                                   for p in precisions) + " |", flush=True)
    return rows


def main() -> None:
    args, parser = parse_args()
    thread_counts = sorted((int(t) for t in args.threads.split(",")), reverse=True)
    if args.trained:
        from trained_step import main as trained_main

        args.threads = thread_counts[0]
        trained_main(args)
        return
    if args.versus_plain:
        print("| threads | trial precision | trial img/s | plain fp32 img/s | trial / plain |\n|---|---|---|---|---|",
              flush=True)
        for threads in thread_counts:
            print(versus_plain(threads, args.steps or 30, args.repeats), flush=True)
        return
    configure_cpu(thread_counts[0])
    archs = ["burgess"] if args.quick else list(ARCHITECTURES)
    if args.architectures:
        archs = args.architectures.split(",")
        unknown = [a for a in archs if a not in ARCHITECTURES]
        if unknown:
            parser.error(f"--architectures: unknown {', '.join(unknown)}; choose from {', '.join(ARCHITECTURES)}")
    model_types = args.models.split(",") if args.models else list(MODELS)
    rows = []
    for threads in thread_counts:
        if threads:
            torch.set_num_threads(threads)
        rows += table_rows(args, torch.device(args.device), archs, model_types, torch.get_num_threads())
    if args.save:
        save(args.save, rows)


def save(path: str, rows) -> None:
    """Append rows to the throughput CSV (header written when the file is new; a file with other
    columns is refused: save to a new one)."""
    import csv
    import os

    new = not os.path.exists(path)
    if not new:
        with open(path, newline="") as handle:
            header = next(csv.reader(handle), [])
        if tuple(header) != COLUMNS:
            raise SystemExit(f"{path} has columns {header}, not {list(COLUMNS)}: save to a new file")
    with open(path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(COLUMNS)
        writer.writerows(rows)
    print(f"appended {len(rows)} rows to {path}", flush=True)


if __name__ == "__main__":
    main()
