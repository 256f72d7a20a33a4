"""The measuring parts of benchmarks/gpu_check.py: the trial's own training step at a given device and
precision, packed trial processes, batch production on the device, and a small real study.

Everything trains through the project's code: ``train.trial_run.setup`` (``configure_cpu``,
``select_device``, ``build_model``, the dataset on the device) and ``train.steps.train_step`` (batch
from ``train_batch``, forward and loss under ``train.device.autocast``, backward, Adam). Precision is
explicit: where the project's switches are no-ops on a device (today ``train.device.autocast`` and
``maybe_compile`` do nothing on CPU), :func:`precision` says so and supplies them itself — bf16
autocast around the same forward and loss, ``torch.compile`` of the same model — so the check works
before and after the project turns bf16 on for CPUs, and its ``via`` column says which path ran.

Also the entry of the child processes (``python benchmarks/gpu_check_parts.py worker|study-driver``).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PRECISIONS = ("fp32", "bf16", "bf16+compile")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def setup_run(model_type: str, batch: int, device: torch.device, precision: str, *, threads: int = 0,
              gpus: float = 1.0):
    """A trial run (``train.trial_run.setup``) of ``model_type`` on ``device``: the default architecture,
    procedural dSprites on the device, amp/compile as ``precision`` asks, no KL warm-up."""
    from train.trial_run import setup
    from train.validation import trial_from_dict

    config = trial_from_dict({"model_type": model_type, "batch_size": batch, "steps": 10**9,
                              "device": device.type, "gpus": gpus if device.type == "cuda" else 0.0,
                              "num_threads": threads, "amp": precision != "fp32", "compile": "compile" in precision})
    run = setup(config)
    run.model.train()
    return run


def _project_autocast_on(device: torch.device) -> bool:
    """Does ``train.device.autocast(device, amp=True)`` actually enable autocast on this device?"""
    from train import device as project

    with project.autocast(device, True):
        return torch.is_autocast_enabled(device.type)


@contextlib.contextmanager
def precision(run, name: str, compile_backend: str | None = None):
    """Yields ``(step_fn, via)`` for timing ``train_step(run, step_fn, ...)`` at ``name``.

    bf16 uses ``train.device.autocast`` when it is active on the run's device; otherwise, for the
    duration, ``train.device.autocast`` is replaced by a bf16 ``torch.autocast`` on that device (the
    trial's step calls it by name, so the same forward and loss run under it). Compile uses
    ``train.device.maybe_compile`` unless it is a no-op on the device or ``compile_backend`` is given;
    then ``torch.compile(model, backend=compile_backend or "inductor")``."""
    from train import device as project

    via, original = [], project.autocast
    if name != "fp32":
        if _project_autocast_on(run.device):
            via.append("train.device autocast")
        else:
            project.autocast = lambda device, amp: torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)
            via.append(f"explicit bf16 autocast (train.device's is off on {run.device.type})")
    step_fn = run.model
    if "compile" in name:
        torch._dynamo.reset()  # a fresh cache per model: no recompile limit, no shapes from the last cell
        if compile_backend is None:
            step_fn = project.maybe_compile(run.model, True, run.device)
        if step_fn is run.model:
            step_fn = torch.compile(run.model, backend=compile_backend or "inductor")
            via.append(f"explicit torch.compile({compile_backend or 'inductor'})")
        else:
            via.append("train.device maybe_compile")
    try:
        yield step_fn, "; ".join(via) or "train.device (amp off)"
    finally:
        project.autocast = original


def steps_per_second(run, step_fn, *, warmup: int, min_steps: int, min_seconds: float,
                     repeats: int) -> tuple[float, float]:
    """Median optimiser steps/s of ``train.steps.train_step`` over ``repeats`` windows, each of
    ≥ ``min_steps`` steps and (steps doubled until) ≥ ``min_seconds``, after ``warmup`` steps; and
    the seconds of the warm-up (with compile, mostly compiling)."""
    from train.steps import train_step

    sums: dict = {}

    def window(n: int) -> float:
        sync(run.device)
        start = time.perf_counter()
        for _ in range(n):
            train_step(run, step_fn, sums)
        sync(run.device)
        return time.perf_counter() - start

    warmup_seconds = window(warmup)
    n, seconds = min_steps, window(min_steps)
    while seconds < min_seconds:
        n *= 2
        seconds = window(n)
    rates = [n / seconds] + [n / window(n) for _ in range(repeats - 1)]
    return statistics.median(rates), warmup_seconds


def training_rate(model_type: str, batch: int, device: torch.device, name: str, timing: dict,
                  compile_backend: str | None = None, threads: int = 1) -> tuple[float, str, float]:
    """Training img/s of ``model_type`` at ``batch`` and precision ``name``, the path taken, and
    the warm-up seconds (the first steps, where compiling happens)."""
    run = setup_run(model_type, batch, device, name, threads=threads)
    with precision(run, name, compile_backend) as (step_fn, via):
        steps, warmup_seconds = steps_per_second(run, step_fn, **timing)
    del run, step_fn
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return steps * batch, via, warmup_seconds


def batch_production(batch: int, device: torch.device, model_type: str, timing: dict, threads: int = 1) -> dict:
    """Where ``train_batch`` puts a batch and what it costs next to the whole training step (fp32)."""
    run = setup_run(model_type, batch, device, "fp32", threads=threads)
    x = run.data.train_batch(batch, run.generator)
    n = max(timing["min_steps"], 5)
    sync(device)
    start = time.perf_counter()
    for _ in range(n):
        run.data.train_batch(batch, run.generator)
    sync(device)
    batch_ms = 1e3 * (time.perf_counter() - start) / n
    step_ms = 1e3 / steps_per_second(run, run.model, **timing)[0]
    return {"batch": batch, "on": str(x.device), "expected": str(run.device), "batch_ms": batch_ms,
            "step_ms": step_ms, "share": batch_ms / step_ms}


def _child_env() -> dict[str, str]:
    """The environment of child processes: this checkout first on the path, own local Ray."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.update({"RAY_ADDRESS": "local", "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"})
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def packed(counts: list[int], *, model_type: str, batch: int, device: torch.device, name: str, seconds: float,
           threads: int, logs: Path) -> dict[int, list[float]]:
    """For each N of ``counts``: img/s of each of N processes training at once on ``device``, as N
    ``--gpus 1/N`` trials packed on one GPU. max(counts) workers set up and warm up once; for each N
    the first N start together on a signal and train for ``seconds`` while the others wait idle."""
    args = [sys.executable, str(Path(__file__).resolve()), "worker", model_type, str(batch), device.type, name,
            str(threads), str(1.0 / max(counts))]
    procs, rates = [], {}
    try:
        for i in range(max(counts)):
            with open(logs / f"pack-{i}.log", "w") as log:
                procs.append(subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                              text=True, env=_child_env(), cwd=REPO))
        for i in range(len(procs)):
            _answer(procs, i, logs)
        for n in counts:
            for proc in procs[:n]:
                proc.stdin.write(f"{seconds}\n")
                proc.stdin.flush()
            rates[n] = [json.loads(_answer(procs, i, logs))["img_s"] for i in range(n)]
            print(f"  (b) {n} trial(s): {sum(rates[n]):.0f} img/s", file=sys.stderr, flush=True)
        return rates
    finally:
        for proc in procs:
            proc.stdin.close()  # the worker's end of input: it exits
            proc.wait(timeout=120)


def _answer(procs: list[subprocess.Popen], i: int, logs: Path) -> str:
    """The next line worker ``i`` prints; its error output if it printed none (it died)."""
    line = procs[i].stdout.readline().strip()
    if not line:
        raise RuntimeError(f"packed worker {i} failed: {(logs / f'pack-{i}.log').read_text()[-2000:]}")
    return line


def worker(model_type: str, batch: str, device: str, name: str, threads: str, gpus: str) -> None:
    """One packed trial: set up and warm up, print ``ready``; then for each line of input (seconds)
    train that long and print the img/s; exit at the end of input."""
    from train.steps import train_step

    run = setup_run(model_type, int(batch), torch.device(device), name, threads=int(threads), gpus=float(gpus))
    with precision(run, name) as (step_fn, _via):
        sums: dict = {}
        for _ in range(3):
            train_step(run, step_fn, sums)
        sync(run.device)
        print("ready", flush=True)
        for line in sys.stdin:
            steps, start = 0, time.perf_counter()
            while time.perf_counter() - start < float(line):
                for _ in range(4):
                    train_step(run, step_fn, sums)
                steps += 4
                sync(run.device)
            elapsed = time.perf_counter() - start
            print(json.dumps({"img_s": steps * int(batch) / elapsed, "steps": steps}), flush=True)


def study(device: torch.device, root: Path, *, quick: bool, timeout: float) -> dict:
    """``python -m study.run`` with 4 trials at ``--gpus 0.5``. On a GPU machine as it is; on CPU
    through ``study-driver``, which starts Ray with one logical GPU first (the study then joins it),
    so Ray schedules the fractional trials as it would on one GPU, and the trials run on the CPU."""
    from analysis.runs import load_runs

    steps, batch = (20, 16) if quick else (50, 64)
    args = ["--preset", "quick", "--name", "gpu-check", "--root", str(root), "--num-trials", "4",
            "--steps", str(steps), "--batch-size", str(batch), "--gpus", "0.5", "--cpus", "1",
            "--max-concurrent", "4", "--metrics", "recon", "--objectives", "recon_error,blur",
            "--sampler", "random", "--set", f"trial.device={device.type}", "--set", "trial.kl_warmup_steps=0",
            "--set", f"trial.report_every={steps}", "--set", "trial.eval_size=64", "--set", "trial.val_size=32"]
    if device.type == "cuda":
        command = [sys.executable, "-m", "study.run", *args]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "study-driver", *args]
    start = time.perf_counter()
    with open(root / "study.log", "w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=_child_env(), cwd=REPO,
                              timeout=timeout)
    seconds = time.perf_counter() - start
    completed = 0
    if done.returncode == 0:
        df = load_runs("gpu-check", tracking_uri="sqlite:///" + str(root / "mlflow.db"))
        completed = int(df["ok"].sum()) if len(df) else 0
    return {"completed": completed, "total": 4, "seconds": seconds, "returncode": done.returncode,
            "command": "python -m study.run " + " ".join(args), "tail": (root / "study.log").read_text()[-3000:]}


def study_driver(argv: list[str]) -> int:
    """``study.run``'s main after starting Ray here with one logical GPU (CPU machines, CI)."""
    import ray

    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False)
    from study.run import main

    return main(argv)


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        worker(*sys.argv[2:])
    elif sys.argv[1] == "study-driver":
        sys.exit(study_driver(sys.argv[2:]))
