"""fp32 islands: the parts of an objective that stay float32 when the networks run under bf16 autocast.

bfloat16 keeps 8 significant bits: fine for convolutions and dense layers, not for the loss. A
Bernoulli NLL summed over 4,096 pixels, log-densities of posteriors a few hundredths wide, the
β-TCVAE's M × M × D log-densities and their logsumexp, covariances of the code, γ·|KL − C| with
γ = 1000: each is computed by a function decorated with :func:`fp32_island`, so it runs with
autocast off and half-precision inputs upcast, whatever the caller's autocast state. Outside
autocast and with float32 (or float64) inputs it changes nothing.

Where the islands are: the likelihoods' ``nll``, ``gaussian_kl``, ``log_density_gaussian`` and
``minibatch_log_qz`` (models.estimators), the posterior sample (``GaussianVAE.reparameterize``: z
must resolve posteriors narrower than bf16's spacing), β-TCVAE's decomposition, the DIP-VAE
penalty, AnnealedVAE's capacity term, FactorVAE's discriminator output layer (its logits, hence the
TC estimate) and cross-entropy. tests/models/test_precision.py checks every model type.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch

#: Autocast device types an island switches off (those this project runs on).
AUTOCAST_DEVICES = ("cpu", "cuda")
_HALF = (torch.bfloat16, torch.float16)

F = TypeVar("F", bound=Callable[..., Any])


def to_float32(value: Any) -> Any:
    """``value`` with every bf16/fp16 tensor cast to float32, also inside tuples (named tuples such as
    ``ModelOutput`` keep their type), lists and dicts; anything else unchanged (float64 stays)."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in _HALF else value
    if isinstance(value, tuple):
        items = [to_float32(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, list):
        return [to_float32(v) for v in value]
    if isinstance(value, dict):
        return {k: to_float32(v) for k, v in value.items()}
    return value


def fp32_island(fn: F) -> F:
    """Decorator: ``fn`` runs with autocast off and its half-precision tensor arguments cast to float32."""

    @functools.wraps(fn)
    def island(*args: Any, **kwargs: Any) -> Any:
        args, kwargs = to_float32(args), to_float32(kwargs)
        active = [d for d in AUTOCAST_DEVICES if torch.is_autocast_enabled(d)]
        if not active:
            return fn(*args, **kwargs)
        with contextlib.ExitStack() as stack:
            for device in active:
                stack.enter_context(torch.autocast(device, enabled=False))
            return fn(*args, **kwargs)

    return island  # type: ignore[return-value]
