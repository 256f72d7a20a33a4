"""Training throughput (images/s) per architecture × model type × batch size, with achieved FLOP/s.

Usage: python benchmarks/throughput.py [--quick] [--architectures A,B] [--device cpu|cuda] [--threads N]
       [--save CSV]
       python benchmarks/throughput.py --trained [--train-steps 3000 | --checkpoint DIR] [--late]

The step timed is the trial's own training step (``study.trial.train_step``): a batch of procedural
dSprites generated on the device (one gather), forward, loss, backward, Adam (foreach), and for
FactorVAE the discriminator's step on a second batch. ``--save`` appends the rows to a CSV that
``python -m study.run --dry-run`` reads to estimate a study's device-hours
(benchmarks/data/throughput.csv). Warm-up steps first, then the median
of ``--repeats`` timings of ``--steps`` steps each. FLOPs of one step (forward + backward) are
counted with torch.utils.flop_counter; the peak is measured in the same run as the FLOP/s of a
2048² fp32 matmul, so the ratio is comparable across machines. Both run with flush-to-zero set
before the intra-op pool starts, as a trial does.

These are fresh weights. ``--trained`` (benchmarks/trained_step.py) times the step at a trained
checkpoint too, with and without flush-to-zero, next to a plain PyTorch loop of the same model.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from models import ARCHITECTURES, MODELS
from study.config import trial_from_dict
from study.data import dsprites
from study.device import configure_cpu
from study.trial import setup, train_step

#: Networks ~10× slower per image than Burgess's on a CPU: fewer steps per timing by default.
SLOW_ARCHITECTURES = ("seed_report",)


def matmul_peak(device: torch.device, n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
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


def step_flops(model, data, batch: int, generator) -> float:
    """FLOPs of the main forward and backward (the discriminator's step is not counted)."""
    x = data.train_batch(batch, generator)
    with FlopCounterMode(display=False) as counter:
        loss = model.loss(x, model(x)).loss
        loss.backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def measure(model_type: str, arch: str, batch: int, device, steps: int, repeats: int) -> tuple[float, float]:
    data = dsprites(device)
    config = trial_from_dict({"model_type": model_type, "latent_dim": 10, "architecture": arch,
                              "batch_size": batch, "steps": 10**6, "device": device.type})
    run = setup(config, data=data)
    run.model.train()

    def go(n):
        sums = {}
        for _ in range(n):
            train_step(run, run.model, sums)
        _sync(device)

    go(3)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        go(steps)
        times.append(time.perf_counter() - t)
    ips = steps * batch / statistics.median(times)
    return ips, step_flops(run.model, data, batch, run.generator) * ips / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Burgess only, fewer steps.")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="Device (default: cuda if available, else cpu).")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default).")
    parser.add_argument("--steps", type=int, default=None, help="Steps per timing.")
    parser.add_argument("--repeats", type=int, default=3, help="Timings per case (median reported).")
    parser.add_argument("--models", default=None, help="Comma-separated model types (default: all).")
    parser.add_argument("--architectures", default=None,
                        help=f"Comma-separated architectures (default: all: {', '.join(ARCHITECTURES)}).")
    parser.add_argument("--batches", default="64,256", help="Comma-separated batch sizes (default: 64,256).")
    parser.add_argument("--save", default=None, help="Append the rows to this CSV (device, architecture, "
                                                     "model_type, batch_size, images_per_second).")
    trained = parser.add_argument_group("trained checkpoint (CPU): init/trained × flush-to-zero × plain loop")
    trained.add_argument("--trained", action="store_true", help="Run this mode instead of the table above.")
    trained.add_argument("--train-steps", type=int, default=3000, help="Steps to train the checkpoint.")
    trained.add_argument("--checkpoint", default=None, help="Use this trial checkpoint folder instead "
                                                            "(a VAE with latent_dim 10 on dSprites).")
    trained.add_argument("--cache-dir", default=None, help="Where the trained checkpoint is cached "
                                                           "(default: <tempdir>/betasweep-bench).")
    trained.add_argument("--late", action="store_true", help="Also time flush-to-zero set after the "
                                                             "intra-op pool started.")
    args = parser.parse_args()
    if args.trained:
        from trained_step import main as trained_main

        trained_main(args)
        return
    configure_cpu(args.threads)
    device = torch.device(args.device)
    peak = matmul_peak(device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, "
          f"peak (2048² fp32 matmul) {peak / 1e9:.1f} GFLOP/s", flush=True)
    archs = ["burgess"] if args.quick else list(ARCHITECTURES)
    if args.architectures:
        archs = args.architectures.split(",")
        unknown = [a for a in archs if a not in ARCHITECTURES]
        if unknown:
            parser.error(f"--architectures: unknown {', '.join(unknown)}; choose from {', '.join(ARCHITECTURES)}")
    print("| arch | model | batch | img/s | GFLOP/s | % of peak |\n|---|---|---|---|---|---|", flush=True)
    model_types = args.models.split(",") if args.models else list(MODELS)
    rows = []
    for arch in archs:
        for batch in (int(b) for b in args.batches.split(",")):
            steps = args.steps or max(3, (4 if arch in SLOW_ARCHITECTURES else 40) * 64 // batch)
            for model_type in model_types:
                ips, flops = measure(model_type, arch, batch, device, steps, args.repeats)
                rows.append((device.type, arch, model_type, batch, round(ips, 1)))
                print(f"| {arch} | {model_type} | {batch} | {ips:.0f} | {flops / 1e9:.1f} | "
                      f"{100 * flops / peak:.0f}% |", flush=True)
    if args.save:
        save(args.save, rows)


def save(path: str, rows) -> None:
    """Append rows to the throughput CSV (header written when the file is new)."""
    import csv
    import os

    new = not os.path.exists(path)
    with open(path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(["device", "architecture", "model_type", "batch_size", "images_per_second"])
        writer.writerows(rows)
    print(f"appended {len(rows)} rows to {path}", flush=True)


if __name__ == "__main__":
    main()
