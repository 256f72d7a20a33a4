"""Where a trial runs: one function decides the device; CPU threads and flush-to-zero; AMP and
torch.compile switches.

Ray gives a trial that asked for GPUs a ``CUDA_VISIBLE_DEVICES`` listing exactly its GPU(s), so
inside the trial the assigned GPU is ``cuda:0``. A trial that asked for no GPU gets no
``CUDA_VISIBLE_DEVICES`` at all and would see every GPU of the node: :func:`select_device`
therefore returns the CPU for it, whatever CUDA says, so fractional-GPU packing is never broken by
a CPU trial grabbing a GPU.

Flush-to-zero (:func:`configure_cpu`): once a model leaves dSprites' early plateau, some values
are denormal floats (for a VAE at step 3000, 1–4% of the decoder's activation gradients and a
third of Adam's first moments). CPUs that handle them by microcode assists (many Intel cores) run
such ops many times slower; flushing them to zero costs nothing and leaves the scores unchanged
(benchmarks/README.md, "Trained weights and denormals", which also shows that this development
machine's AMD EPYC computes most of them at full speed). The flag is per thread (MXCSR), and
torch's intra-op pool (libgomp, one pool per thread that starts parallel work) copies it from the
thread that creates its workers, once: set after the pool has started, it reaches the calling
thread only (half the work with two threads). :func:`configure_cpu` is therefore the first thing
a trial does in the thread that trains, and :func:`denormals_flushed` observes the effect.
"""

from __future__ import annotations

import contextlib
import logging
import os

import torch

log = logging.getLogger(__name__)


def select_device(gpus_requested: float, preference: str = "auto") -> torch.device:
    """The device of a trial that holds ``gpus_requested`` GPUs (0 = none).

    ``preference``: "auto" (the assigned GPU if any and CUDA works, else CPU), "cpu", or "cuda"
    (an error if no GPU was assigned or CUDA is unavailable).
    """
    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device: unknown device {preference!r}; choose auto, cpu or cuda")
    if preference == "cpu" or (preference == "auto" and gpus_requested <= 0):
        return torch.device("cpu")
    if gpus_requested <= 0:
        raise ValueError("device: cuda was asked for but the trial holds no GPU; set resources.gpus > 0")
    if not torch.cuda.is_available():
        if preference == "cuda":
            raise ValueError("device: cuda was asked for but CUDA is not available on this node")
        log.info("trial holds %s GPU(s) %s but CUDA is not available here; running on CPU",
                 gpus_requested, assigned_gpu_ids())
        return torch.device("cpu")
    return torch.device("cuda", 0)


def configure_cpu(num_threads: int = 0, flush_denormal: bool = True) -> bool:
    """Set flush-to-zero (or clear it), then the intra-op thread count (0 = torch's default).

    Call it in the thread that will train, before its first parallel op, so every worker thread
    of its intra-op pool inherits the flag. Returns whether flushing is supported here (x86 with
    SSE3, or ARM); when it is and the pool had already started without it, logs a warning, since
    part of the work then still runs on denormals.
    """
    supported = torch.set_flush_denormal(flush_denormal)
    if num_threads > 0:
        torch.set_num_threads(num_threads)
    flushed = denormals_flushed() if flush_denormal and supported else 1.0
    if flushed < 1.0:
        log.warning("flush-to-zero was set after this thread's intra-op pool started; %.0f%% of a "
                    "parallel op still keeps denormals (slower training)", 100 * (1 - flushed))
    return supported


def denormals_flushed() -> float:
    """Fraction of a parallel CPU product whose denormal result (1e-20² = 1e-40) came out 0.

    The product is split into one chunk per intra-op thread (torch's grain is 32,768 elements),
    so 1.0 means every thread flushes denormals, 0.0 none, and 1/n that only one of n does.
    """
    n = 32768 * max(2, torch.get_num_threads())
    x = torch.full((n,), 1e-20, dtype=torch.float32)
    return float((x * x == 0).float().mean())


def assigned_gpu_ids() -> list[str]:
    """GPU ids Ray assigned to this worker (inside Ray), else those in CUDA_VISIBLE_DEVICES."""
    try:
        import ray

        if ray.is_initialized():
            return [str(i) for i in ray.get_gpu_ids()]
    except Exception:  # not inside a Ray worker
        pass
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return [v for v in visible.split(",") if v.strip()]


def autocast(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when ``amp``; on CPU a no-op (bf16 is not accelerated here)."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if amp:
        log.info("amp: bf16 autocast is only used on CUDA; ignored on %s", device)
    return contextlib.nullcontext()


def maybe_compile(model: torch.nn.Module, enabled: bool, device: torch.device):
    """The callable for the forward pass: ``torch.compile(model)`` on CUDA when enabled, else the
    model (on CPU compilation costs more than it saves for these small networks)."""
    if enabled and device.type == "cuda":
        return torch.compile(model)
    if enabled:
        log.info("compile: torch.compile is only used on CUDA; ignored on %s", device)
    return model
