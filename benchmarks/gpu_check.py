"""GPU check: one command, one Markdown report of what a GPU gives this project's trials.

Usage: python benchmarks/gpu_check.py                        # on a GPU machine (≤ 10 min on one GPU)
       python benchmarks/gpu_check.py --device cpu --quick   # CI: tiny batches, 1 and 2 trials

(a) training img/s of every registered model type (default architecture) at fp32, bf16 autocast and
bf16 + torch.compile, batch 64 and 256; (b) aggregate img/s of 1, 2, 4 and 8 trial processes
training at once on the device, as ``--gpus 1/N`` trials are packed; (c) that ``train_batch``
renders batches on the device and costs ≈ 0 next to the step; (d) a 4-trial ``python -m study.run``
with ``--gpus 0.5`` completing (on CPU Ray is given one logical GPU). All of it runs the trial's own
code (benchmarks/gpu_check_parts.py); the ``via`` column says where the check had to switch bf16 or
compile on itself because the project's switch is off on that device. benchmarks/README.md ("GPU
check") says what to expect and what to do with the numbers.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import gpu_check_parts as parts  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from models import MODELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cuda or cpu (default: cuda if available).")
    parser.add_argument("--quick", action="store_true",
                        help="CI size: batches 8,16, short timings, 1 and 2 packed trials, a 20-step study, "
                             "compile with the eager backend on a device where the project does not compile.")
    parser.add_argument("--models", default=",".join(MODELS), help="Model types (default: all registered).")
    parser.add_argument("--batches", default=None, help="Batch sizes for (a) and (c) (default 64,256; quick 8,16).")
    parser.add_argument("--precisions", default=",".join(parts.PRECISIONS), help="Subset of fp32,bf16,bf16+compile.")
    parser.add_argument("--pack", default=None, help="Trial counts packed at once (default 1,2,4,8; quick 1,2).")
    parser.add_argument("--pack-model", default="vae", help="Model type of the packed trials (default vae).")
    parser.add_argument("--pack-batch", type=int, default=None,
                        help="Batch of the packed trials (default 64; quick 16).")
    parser.add_argument("--pack-precision", default="bf16", help="Precision of the packed trials (default bf16).")
    parser.add_argument("--pack-seconds", type=float, default=None,
                        help="Seconds the packed trials train together (default 10; quick 1).")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of every training, as a trial's --cpus (default 1).")
    parser.add_argument("--compile-backend", default=None,
                        help="torch.compile backend (default: the project's maybe_compile, else inductor; quick "
                             "on CPU: eager).")
    parser.add_argument("--no-study", action="store_true", help="Skip (d).")
    parser.add_argument("--study-root", default=None, help="Keep the study and logs here (default: a temp dir).")
    parser.add_argument("--out", default=None, help="Also write the report to this file.")
    args = parser.parse_args(argv)
    args.device = torch.device(args.device)
    args.models = args.models.split(",")
    args.precisions = [p for p in args.precisions.split(",") if p]
    unknown = (sorted({*args.models, args.pack_model} - set(MODELS))
               + sorted({*args.precisions, args.pack_precision} - set(parts.PRECISIONS)))
    if unknown:
        parser.error(f"unknown model type(s) or precision(s): {', '.join(unknown)}")
    args.batches = [int(b) for b in (args.batches or ("8,16" if args.quick else "64,256")).split(",")]
    args.pack = [int(n) for n in (args.pack or ("1,2" if args.quick else "1,2,4,8")).split(",")]
    args.pack_batch = args.pack_batch or (16 if args.quick else 64)
    args.pack_seconds = args.pack_seconds or (1.0 if args.quick else 10.0)
    if args.quick and args.compile_backend is None and args.device.type == "cpu":
        args.compile_backend = "eager"  # inductor's first CPU compile takes minutes here; eager checks dynamo
    # quick: one short window; else ≥ 0.5 s windows, median of 3
    args.timing = (dict(warmup=1, min_steps=2, min_seconds=0.0, repeats=1) if args.quick
                   else dict(warmup=5, min_steps=10, min_seconds=0.5, repeats=3))
    return args


def device_line(device: torch.device, threads: int) -> str:
    """What ran the check: the GPU (name, memory, bf16 support) or the CPU, and the software."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(0)
        what = (f"{props.name}, {props.total_memory / 2**30:.0f} GiB, bf16 supported: "
                f"{torch.cuda.is_bf16_supported()}, CUDA {torch.version.cuda}")
    else:
        flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
        native = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
        what = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                f"native bf16: {', '.join(native) or 'no'}")
    return (f"device {device} ({what}); {threads} CPU thread(s) per training; torch {torch.__version__}; "
            f"{datetime.date.today()}")


def training_table(args) -> list[str]:
    """(a): img/s per model type × batch × precision, the bf16 and compile speed-ups, and the
    compiled cell's warm-up (its first steps, compiling included)."""
    lines = ["## (a) Training img/s (train.steps.train_step, burgess, procedural dSprites on the device)", "",
             "| model | batch | " + " | ".join(args.precisions) + " | bf16/fp32 | compile/bf16 | compile warm-up s |",
             "|---|---|" + "---|" * (len(args.precisions) + 3)]
    paths: dict[str, str] = {}
    for model_type in args.models:
        for batch in args.batches:
            rates, warmups = {}, {}
            for name in args.precisions:
                rates[name], paths[name], warmups[name] = parts.training_rate(
                    model_type, batch, args.device, name, args.timing, args.compile_backend, args.threads)
                print(f"  (a) {model_type} batch {batch} {name}: {rates[name]:.0f} img/s", file=sys.stderr, flush=True)
            warmup = f"{warmups['bf16+compile']:.1f}" if "bf16+compile" in warmups else "–"
            lines.append(f"| {model_type} | {batch} | " + " | ".join(f"{rates[p]:,.0f}" for p in args.precisions)
                         + f" | {_ratio(rates, 'bf16', 'fp32')} | {_ratio(rates, 'bf16+compile', 'bf16')} | {warmup} |")
    lines += [""] + [f"- {name} via: {via}" for name, via in paths.items()]
    return lines


def _ratio(rates: dict, top: str, bottom: str) -> str:
    return f"{rates[top] / rates[bottom]:.2f}×" if top in rates and bottom in rates else "–"


def packing_table(args, logs: Path) -> list[str]:
    """(b): N processes training at once; the sum and per-trial rates."""
    lines = [f"## (b) Packed trials ({args.pack_model}, batch {args.pack_batch}, {args.pack_precision}, "
             f"{args.threads} CPU thread(s) each, {args.pack_seconds:g} s together)", "",
             "| trials | --gpus | aggregate img/s | per-trial img/s (mean) | slowest trial | aggregate vs 1 trial |",
             "|---|---|---|---|---|---|"]
    rates = parts.packed(args.pack, model_type=args.pack_model, batch=args.pack_batch, device=args.device,
                         name=args.pack_precision, seconds=args.pack_seconds, threads=args.threads, logs=logs)
    single = sum(rates[1]) if 1 in rates else None
    for n, trial_rates in rates.items():
        total = sum(trial_rates)
        lines.append(f"| {n} | {1 / n:.3g} | {total:,.0f} | {total / n:,.0f} | {min(trial_rates):,.0f} | "
                     + (f"{total / single:.2f}× |" if single else "– |"))
    return lines


def batch_table(args) -> list[str]:
    """(c): the batch's device and the share of the step spent producing it."""
    lines = [f"## (c) Batches produced on the device ({args.pack_model}, fp32)", "",
             "| batch | batch on | trial device | train_batch ms | train step ms | data share |",
             "|---|---|---|---|---|---|"]
    for batch in args.batches:
        r = parts.batch_production(batch, args.device, args.pack_model, args.timing, args.threads)
        lines.append(f"| {batch} | {r['on']} | {r['expected']} | {r['batch_ms']:.3f} | {r['step_ms']:.2f} | "
                     f"{100 * r['share']:.1f}% |")
    return lines


def study_table(args, root: Path) -> list[str]:
    """(d): the 4-trial study at --gpus 0.5 and how many of its trials completed."""
    r = parts.study(args.device, root, quick=args.quick, timeout=300 if args.quick else 420)
    gpus = "1 logical GPU (Ray resource; trials on the CPU)" if args.device.type == "cpu" else "the GPU"
    lines = [f"## (d) A 4-trial study with --gpus 0.5 on {gpus}", "",
             "| completed | total | wall s | exit code |", "|---|---|---|---|",
             f"| {r['completed']} | {r['total']} | {r['seconds']:.0f} | {r['returncode']} |", "",
             f"`{r['command']}`"]
    if r["completed"] < r["total"]:
        lines += ["", "Not all trials completed; the end of the study's output:", "", "```", r["tail"], "```"]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    report = [f"# GPU check{' (--quick)' if args.quick else ''}", "", device_line(args.device, args.threads), ""]
    times = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        root = Path(args.study_root or tmp)
        root.mkdir(parents=True, exist_ok=True)
        sections = {"a": lambda: training_table(args), "b": lambda: packing_table(args, root),
                    "c": lambda: batch_table(args), "d": lambda: study_table(args, root)}
        for key, section in sections.items():
            if key == "d" and args.no_study:
                continue
            start = time.perf_counter()
            report += section() + [""]
            times.append(f"({key}) {time.perf_counter() - start:.0f} s")
    report.append(f"Time: {time.perf_counter() - started:.0f} s in all; " + ", ".join(times))
    text = "\n".join(report)
    print(text, flush=True)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
