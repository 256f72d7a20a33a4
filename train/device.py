"""Where a trial runs: one function decides the device; CPU threads and flush-to-zero; the
precision (bf16 autocast or fp32) and torch.compile switches.

Ray gives a trial that asked for GPUs a ``CUDA_VISIBLE_DEVICES`` listing exactly its GPU(s), so
inside the trial the assigned GPU is ``cuda:0``. A trial that asked for no GPU gets no
``CUDA_VISIBLE_DEVICES`` at all and would see every GPU of the node: :func:`select_device`
therefore returns the CPU for it, whatever CUDA says, so fractional-GPU packing is never broken by
a CPU trial grabbing a GPU.

Flush-to-zero (:func:`configure_cpu`): once a model leaves dSprites' early plateau, some values
are denormal floats (for a VAE at step 3000, 1–4% of the decoder's activation gradients and a
third of Adam's first moments). CPUs that handle them by microcode assists (many Intel cores) run
such ops many times slower; flushing them to zero costs nothing and leaves the scores unchanged
(benchmarks/notes/2026-11-27-trained-weights-and-denormals.md, which also shows that this development
machine's AMD EPYC computes most of them at full speed). The flag is per thread (MXCSR), and
torch's intra-op pool (libgomp, one pool per thread that starts parallel work) copies it from the
thread that creates its workers, once: set after the pool has started, it reaches the calling
thread only (half the work with two threads). :func:`configure_cpu` is therefore the first thing
a trial does in the thread that trains, and :func:`denormals_flushed` observes the effect.

Precision (:func:`resolve_precision`): ``trial.amp: auto`` trains in bf16 where the hardware does
bf16 arithmetic natively — x86 CPUs with AVX512-BF16 or AMX (:func:`cpu_has_native_bf16`) and CUDA
GPUs with bf16 — for a model type whose bf16 science table agreed with fp32 (``bf16_under_auto`` of
its class; none yet), else fp32. ``amp: true`` forces bf16. Only the networks run in bf16: the
loss's delicate terms are fp32 islands (:mod:`models.precision`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys

import torch

from analysis.schema import Precision
from train.options import Amp

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

    Call it in the training thread before its first parallel op, so the intra-op pool inherits the
    flag (a late call is warned about). Returns whether flushing is supported (x86 with SSE3, or ARM).
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
    """GPU ids Ray assigned to this worker (inside Ray), else those in CUDA_VISIBLE_DEVICES. The
    trainer never imports Ray: only a process that already loaded it (a Ray worker) asks it."""
    ray = sys.modules.get("ray")
    try:
        if ray is not None and ray.is_initialized():
            return [str(i) for i in ray.get_gpu_ids()]
    except Exception:  # not inside a Ray worker
        pass
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return [v for v in visible.split(",") if v.strip()]


#: /proc/cpuinfo flags of native bf16 arithmetic (x86): AVX512-BF16 (e.g. AMD Zen 4, Intel Cooper
#: Lake) and AMX-BF16 (Intel Sapphire Rapids and later).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic natively (AVX512-BF16 or AMX).

    Asks torch's own probe (cpuinfo: CPUID, and for AMX whether the OS enabled its state) when this
    torch has it, else the kernel's flags in /proc/cpuinfo; False where neither answers (ARM's
    bf16 extensions are not counted: force them with ``amp: true``)."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if all(callable(p) for p in probes):
        try:
            return any(bool(p()) for p in probes)
        except Exception:  # a torch build without the probe's backend: fall back to the flags
            pass
    try:
        with open("/proc/cpuinfo") as handle:
            flags = {flag for line in handle if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
    except OSError:
        return False
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def resolve_precision(amp: Amp | str, device: torch.device, auto_bf16: bool = True) -> Precision:
    """What a trial on ``device`` trains in: ``amp`` false → fp32, true → bf16; auto → bf16 on a CPU
    with native bf16 or a CUDA GPU that supports it, unless ``auto_bf16`` is False (the model type
    keeps fp32), else fp32."""
    amp = Amp(amp)
    if amp is Amp.OFF:
        return Precision.FP32
    if amp is Amp.ON:
        if device.type == "cpu" and not cpu_has_native_bf16():
            log.warning("amp: true on a CPU without native bf16: emulated, likely slower than fp32")
        return Precision.BF16
    if not auto_bf16:
        return Precision.FP32
    if device.type == "cuda":
        return Precision.BF16 if torch.cuda.is_bf16_supported() else Precision.FP32
    if device.type == "cpu" and cpu_has_native_bf16():
        return Precision.BF16
    return Precision.FP32


def autocast(device: torch.device, precision: Precision | str | bool):
    """bf16 autocast of ``device`` when ``precision`` is bf16 (or True), else a no-op context."""
    if isinstance(precision, bool):
        precision = Precision.BF16 if precision else Precision.FP32
    if Precision(precision) is Precision.BF16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def use_channels_last(model: torch.nn.Module, enabled: bool, device: torch.device) -> torch.nn.Module:
    """``model`` with its 4-d (convolution) weights in channels-last format on the CPU when ``enabled``
    (faster oneDNN kernels there, in fp32 and bf16); unchanged on other devices (not measured)."""
    if enabled and device.type == "cpu":
        return model.to(memory_format=torch.channels_last)
    return model


def maybe_compile(model: torch.nn.Module, enabled: bool, device: torch.device):
    """The callable for the forward pass: ``torch.compile(model)`` on CUDA when enabled, else the
    model (on CPU compilation costs more than it saves for these small networks)."""
    if enabled and device.type == "cuda":
        return torch.compile(model)
    if enabled:
        log.info("compile: torch.compile is only used on CUDA; ignored on %s", device)
    return model
