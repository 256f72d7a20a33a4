"""Where a trial runs: one function decides the device; AMP and torch.compile switches.

Ray gives a trial that asked for GPUs a ``CUDA_VISIBLE_DEVICES`` listing exactly its GPU(s), so
inside the trial the assigned GPU is ``cuda:0``. A trial that asked for no GPU gets no
``CUDA_VISIBLE_DEVICES`` at all and would see every GPU of the node: :func:`select_device`
therefore returns the CPU for it, whatever CUDA says, so fractional-GPU packing is never broken by
a CPU trial grabbing a GPU.
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
