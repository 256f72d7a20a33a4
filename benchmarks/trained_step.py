"""``throughput.py --trained``: the training step at initialisation and at a trained checkpoint,
with and without flush-to-zero, next to a plain PyTorch loop of the same model.

Why: a trial spends nearly all its steps past dSprites' early plateau, where some activations and
gradients are denormal floats and the CPU step slows down (fresh weights do not show it). The model
is a Burgess VAE (D = 10) trained ``--train-steps`` steps (default 3000) at lr 1e-3 with a KL
warm-up of 300 steps, batch 64, by the trial's own code; the checkpoint is cached under the temp
dir (keyed by the config, the step count and the torch version) or taken from ``--checkpoint``.

The plain loop is what a user would write for the same model: the same encoder and decoder modules,
the VAE loss written out (Bernoulli NLL + closed-form KL), default ``torch.optim.Adam``, random
batches indexed from 8,192 images rendered beforehand; at the trained checkpoint it starts from
the same weights and Adam moments. The checkpoint is trained without flush-to-zero (see
:func:`trained_checkpoint`).

Flush-to-zero is a per-thread flag that torch's OpenMP pool copies when its workers start, so every
cell (regime × loop × mode) runs in its own thread with its own pool: ``off``, ``on`` (set before
the pool starts, as a trial does) and, with ``--late``, ``late`` (set after the pool started: only
the calling thread flushes). Each cell reports the fraction of a parallel op that flushed
(:func:`train.device.denormals_flushed`: 1 = every thread). Cells are timed in interleaved rounds
(every cell once per round in a shuffled order, ``--repeats`` rounds) so that load from elsewhere
hits them alike; the table gives the median img/s with its range and the median [range] of the per-round on/off
speed-ups, from wall-clock time and from the CPU time of the cell's thread (not inflated by other
processes' load; with ``--threads 1`` it is the whole step).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from train.device import denormals_flushed
from train.steps import train, train_step
from train.trial_run import setup
from train.validation import trial_from_dict

#: fp32 (amp false): the denormal question is one of fp32 arithmetic, and the plain loop is fp32.
TRIAL = {"model_type": "vae", "latent_dim": 10, "lr": 1e-3, "kl_warmup_steps": 300, "batch_size": 64,
         "dataset": "dsprites", "metrics": "recon", "report_every": 100, "device": "cpu", "amp": "false"}
REGIMES = ("init", "trained")
LOOPS = ("betasweep", "plain")


def trained_checkpoint(train_steps: int, threads: int, cache_root: str | None = None) -> str:
    """A checkpoint of the benchmark's VAE after ``train_steps`` steps: cached, else trained now
    (in a fresh thread) and moved into place in one rename.

    It is trained without flush-to-zero, so it holds what such a trial accumulates: denormal
    values in Adam's moments (a trial with the flag has zeros there). Timed with the flag on, they
    read as zero; timed without, they cost what they cost a trial without it."""
    key = hashlib.sha256(json.dumps([TRIAL, train_steps, torch.__version__, "no-ftz"], sort_keys=True).encode())
    root = cache_root or os.path.join(tempfile.gettempdir(), "betasweep-bench")
    path = os.path.join(root, f"vae-{train_steps}-{key.hexdigest()[:12]}")
    if os.path.exists(path):
        return path
    config = trial_from_dict({**TRIAL, "steps": train_steps, "num_threads": threads, "flush_denormal": False})
    print(f"training the checkpoint: {train_steps} steps of {TRIAL} ({threads} threads) ...", flush=True)
    os.makedirs(root, exist_ok=True)
    work = tempfile.mkdtemp(dir=root, prefix=".training-")

    def go() -> str:
        run = setup(config, checkpoint_dir=work)
        train(run)
        return run.checkpoint()

    try:
        with ThreadPoolExecutor(1) as pool:
            os.replace(pool.submit(go).result(), path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def betasweep_stepper(checkpoint: str | None, threads: int, flush: bool) -> Callable[[], None]:
    """One call = one ``train.steps.train_step`` of the benchmark trial (resumed if ``checkpoint``)."""
    config = trial_from_dict({**TRIAL, "steps": 10**6, "num_threads": threads, "flush_denormal": flush})
    run = setup(config, resume_from=checkpoint)
    run.model.train()
    sums: dict[str, torch.Tensor] = {}
    return lambda: train_step(run, run.model, sums)


@functools.lru_cache(maxsize=1)
def _plain_images() -> torch.Tensor:
    """The plain loop's data set: 8,192 dSprites images rendered once (shared by its cells)."""
    from train.data import dsprites

    data = dsprites("cpu")
    return data.observations(data.sample_factors(8192, np.random.default_rng(0)))


def plain_stepper(checkpoint: str | None, threads: int) -> Callable[[], None]:
    """One call = one step of a hand-written VAE loop with default Adam (weights and moments from
    ``checkpoint`` if given, else the trial's seed-0 initialisation)."""
    from models import build_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model("vae", TRIAL["latent_dim"])
    optimizer = torch.optim.Adam(model.parameters(), lr=TRIAL["lr"])
    if checkpoint:
        state = torch.load(os.path.join(checkpoint, "state.pt"), map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        for group in optimizer.param_groups:  # the trial's Adam was foreach; keep the default here
            group["foreach"] = None
    images = _plain_images()
    encoder, decoder = model.encoder, model.decoder
    model.train()

    def step() -> None:
        x = images[torch.randint(0, len(images), (TRIAL["batch_size"],))]
        mu, logvar = encoder(x).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = F.binary_cross_entropy_with_logits(decoder(z), x, reduction="none").sum((1, 2, 3))
        kl = 0.5 * (mu.square() + logvar.exp() - logvar - 1.0).sum(1)
        loss = (recon + kl).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


class Cell:
    """One (regime, loop, mode) measurement with its own thread, hence its own intra-op pool."""

    def __init__(self, regime: str, loop: str, mode: str, checkpoint: str | None, threads: int):
        self.key = (regime, loop, mode)
        self.pool = ThreadPoolExecutor(1)
        self.seconds: list[float] = []
        self.cpu_seconds: list[float] = []
        self.flushed = float("nan")
        self._step = self.pool.submit(self._build, loop, mode, checkpoint, threads).result()

    @staticmethod
    def _build(loop: str, mode: str, checkpoint: str | None, threads: int) -> Callable[[], None]:
        torch.set_flush_denormal(mode == "on")
        if loop == "betasweep":
            step = betasweep_stepper(checkpoint, threads, flush=mode == "on")
        else:
            step = plain_stepper(checkpoint, threads)
        for _ in range(3):
            step()  # warm-up; the pool starts here
        if mode == "late":
            torch.set_flush_denormal(True)
        return step

    def time(self, steps: int) -> None:
        """Time ``steps`` steps in the cell's thread; record the wall-clock seconds, the CPU seconds
        of that thread (its intra-op workers not counted) and the flush probe."""

        def go() -> tuple[float, float, float]:
            started, cpu = time.perf_counter(), time.thread_time()
            for _ in range(steps):
                self._step()
            return time.perf_counter() - started, time.thread_time() - cpu, denormals_flushed()

        seconds, cpu, self.flushed = self.pool.submit(go).result()
        self.seconds.append(seconds)
        self.cpu_seconds.append(cpu)

    def close(self) -> None:
        self.pool.shutdown()


def run_cells(checkpoint: str, threads: int, steps: int, repeats: int, modes: tuple[str, ...]) -> list[Cell]:
    """Build every cell, then time them in ``repeats`` rounds, each cell once per round in a
    shuffled order."""
    cells = [Cell(regime, loop, mode, checkpoint if regime == "trained" else None, threads)
             for regime in REGIMES for loop in LOOPS for mode in modes]
    for r in range(repeats):
        for cell in random.Random(r).sample(cells, len(cells)):  # no cell always follows the same one
            cell.time(steps)
        print(f"round {r + 1}/{repeats} done", flush=True)
    for cell in cells:
        cell.close()
    return cells


def _ratio(on: list[float], off: list[float]) -> str:
    """Median [range] of the per-round ratios off/on of two lists of seconds (the speed-up of on)."""
    ratios = [b / a for a, b in zip(on, off, strict=True)]
    return f"{statistics.median(ratios):.2f} [{min(ratios):.2f}–{max(ratios):.2f}]"


def table(cells: list[Cell], steps: int, modes: tuple[str, ...]) -> str:
    """Markdown table: one row per regime × loop, img/s median [min–max] per mode, then the on/off
    speed-up per round from wall-clock time and from the calling thread's CPU time (which load
    from other processes does not inflate; with one thread it is all of the step's compute)."""
    by_key = {cell.key: cell for cell in cells}
    batch = TRIAL["batch_size"]
    head = ["regime", "loop", *(f"FTZ {m} img/s" for m in modes), "flushed (" + "/".join(modes) + ")",
            "on/off wall", "on/off thread CPU"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for regime in REGIMES:
        for loop in LOOPS:
            row = [by_key[(regime, loop, m)] for m in modes]
            rates = [[steps * batch / s for s in c.seconds] for c in row]
            cols = [f"{statistics.median(r):.0f} [{min(r):.0f}–{max(r):.0f}]" for r in rates]
            on, off = by_key[(regime, loop, "on")], by_key[(regime, loop, "off")]
            flushed = "/".join(f"{c.flushed:.2g}" for c in row)
            lines.append(f"| {regime} | {loop} | {' | '.join(cols)} | {flushed} | "
                         f"{_ratio(on.seconds, off.seconds)} | {_ratio(on.cpu_seconds, off.cpu_seconds)} |")
    return "\n".join(lines)


def denormal_penalty(repeats: int = 7) -> dict[str, float]:
    """Time of a few of the step's ops on denormal (1e-40) over normal (1e-20) operands, without
    flush-to-zero, one thread (median of ``repeats`` interleaved timings): ~1 where the CPU handles
    denormals at full speed, ≫ 1 where it falls back to microcode assists (many Intel cores)."""
    x = torch.randn(64, 32, 16, 16, requires_grad=True)
    deconv = torch.nn.ConvTranspose2d(32, 32, 4, 2, 1)
    y = deconv(x)
    ops = {"mul": lambda v: v * 0.5, "sqrt": torch.sqrt, "addcdiv": lambda v: torch.addcdiv(v, v, v + 1e-8),
           "ConvTranspose2d backward": lambda v: torch.autograd.grad(y, [x, deconv.weight], v, retain_graph=True)}

    def go() -> dict[str, float]:
        torch.set_flush_denormal(False)
        torch.set_num_threads(1)
        values = {fill: torch.full((64, 32, 32, 32), fill) for fill in (1e-40, 1e-20)}
        times: dict[tuple[str, float], list[float]] = {}
        for _ in range(repeats):
            for (name, op), fill in itertools.product(ops.items(), values):
                started = time.perf_counter()
                op(values[fill])
                times.setdefault((name, fill), []).append(time.perf_counter() - started)
        return {name: statistics.median(times[(name, 1e-40)]) / statistics.median(times[(name, 1e-20)])
                for name in ops}

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(go).result()


def main(args) -> None:
    """The ``--trained`` mode of throughput.py (CPU only: flush-to-zero is a CPU setting)."""
    threads = args.threads or torch.get_num_threads()
    checkpoint = args.checkpoint or trained_checkpoint(args.train_steps, threads, args.cache_dir)
    modes = ("off", "on", "late") if args.late else ("off", "on")
    steps = args.steps or 30
    print(f"checkpoint {checkpoint}; {threads} threads, {steps} steps × {args.repeats} rounds per cell",
          flush=True)
    penalty = denormal_penalty()
    print("denormal / normal operands, time without flush-to-zero: "
          + ", ".join(f"{name} {ratio:.2f}×" for name, ratio in penalty.items()), flush=True)
    cells = run_cells(checkpoint, threads, steps, args.repeats, modes)
    print(table(cells, steps, modes), flush=True)
