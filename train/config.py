"""A trial's configuration: one frozen dataclass, one docstring per field.

The field docstrings are the command line's help texts (:func:`field_docs`, ``python -m train
--help``) and the documentation of the YAML keys under a study's ``trial:``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from train.options import Amp


@dataclass(frozen=True)
class TrialConfig:
    """One training run: data, model, optimiser, budget and scoring."""

    model_type: str = "beta_vae"
    """Model type: a registered one (python -m study.run --list-models), e.g. ae, vae, beta_vae,
    beta_tcvae, annealed_vae, factor_vae, dip_vae_i, dip_vae_ii."""
    model_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Settings of model types, by type, e.g. {beta_vae: {beta: 4}, beta_tcvae: {tc_estimator: mws}}:
    a trial uses its own type's entry; what is unset takes the type's declared default. Each type
    declares its hyperparameters (models.hyperparameters); grid entries and the searcher may also
    name them directly, e.g. {model_type: beta_vae, beta: 4}."""
    latent_dim: int = 10
    """Number of latent dimensions D."""
    seed: int = 0
    """Seed of the parameter init, the minibatch stream and the metrics."""
    architecture: str = "burgess"
    """Encoder/decoder pair (models.networks.ARCHITECTURES): burgess (Burgess et al. 2018),
    disentanglement_lib (its conv_encoder/deconv_decoder, Locatello et al. 2019's network) or
    seed_report."""
    dataset: str = "dsprites"
    """Dataset: dsprites, color-dsprites, noisy-dsprites, textured-dsprites (procedural, recorded as
    <name>-procedural), or from official files under data_root: dsprites, scream-dsprites, smallnorb,
    cars3d, shapes3d, mpi3d-toy, mpi3d-realistic, mpi3d-real (with factors), mnist, celeba."""
    data_root: str | None = None
    """Folder holding the official files (each dataset looks in its own subfolder, e.g.
    dsprites/, small_norb/, cars/, scream/). With dsprites it selects the official .npz (recorded
    dsprites; an error if absent) over the procedural look-alike; ignored by the other variants."""
    likelihood: str | None = None
    """Reconstruction likelihood: bernoulli or gaussian; null = the dataset's default."""
    gaussian_variance: float = 0.5
    """σ² of the Gaussian likelihood N(x̂, σ²I) (ignored by bernoulli); 0.5 makes the NLL the summed
    squared error. It sets the effective β (β at σ² acts like β·2σ² at σ² = 1/2) and recon_error
    scales with 1/σ²: compare trials of one σ² only (docs/measurements.md)."""
    kl_warmup_steps: int = 0
    """Warm-up length in steps (0 = off; ignored by ae): the whole regulariser and the posterior
    noise (z = μ + s·σ·ε) are scaled by s = step / kl_warmup_steps, so a VAE leaves dSprites'
    mean-image plateau early (benchmarks/notes/2026-11-26-warm-up-and-the-plateau.md)."""
    batch_size: int = 64
    """Training minibatch size."""
    lr: float = 1e-4
    """Adam learning rate."""
    steps: int = 2000
    """Training budget in optimiser steps."""
    report_every: int = 100
    """Report training curves (and the validation reconstruction error) every this many steps."""
    checkpoint_every: int = 500
    """Write a resumable checkpoint every this many steps (rounded to a multiple of report_every)."""
    val_size: int = 256
    """Held-out images used for the validation reconstruction error at each report."""
    eval_size: int = 2048
    """Held-out images used for the final reconstruction/blur scores and β-TCVAE terms."""
    metrics: str = "fast"
    """Disentanglement scoring preset: fast (small samples, CPU studies), full (paper sizes), recon
    (reconstruction and blur only) or estimate (fast's scores on very small samples, a few seconds)."""
    device: str = "auto"
    """Device: auto (the GPU Ray assigned, else CPU), cpu or cuda."""
    gpus: float = 0.0
    """GPUs this trial holds (set from the study's resources; 0 means never touch a GPU)."""
    num_threads: int = 0
    """torch intra-op threads (0 = leave torch's default)."""
    flush_denormal: bool = True
    """Flush denormal floats to zero on the CPU, before the intra-op threads start: trained models'
    tiny gradients and moments are slow on many x86 cores, and the scores do not change
    (benchmarks/notes/2026-11-27-trained-weights-and-denormals.md). false only to measure that."""
    amp: Amp = Amp.AUTO
    """bf16 autocast of the networks (the loss's delicate terms stay fp32): auto = bf16 on native-bf16
    hardware for model types whose bf16 science table agreed with fp32 (none yet), else fp32;
    true = always (~2× faster on native bf16); false = fp32. Recorded as the run's tag precision."""
    channels_last: bool = True
    """Convolution weights in channels-last (NHWC) memory format on the CPU, where oneDNN runs them
    faster (benchmarks/notes/2026-12-06-channels-last.md); ignored on CUDA. Same arithmetic."""
    compile: bool = False
    """torch.compile the model on CUDA (ignored with a logged note on CPU)."""
    estimate_at: tuple[int, ...] = ()
    """Steps at which the trial also reports a cheap estimate of its scores (estimate/<metric>, the
    estimate metric preset on the validation images): set by the study to its early-stopping rungs."""

    def with_updates(self, **changes: Any) -> TrialConfig:
        """A copy with some fields changed (then re-validated by the caller)."""
        return dataclasses.replace(self, **changes)

    def own_params(self) -> dict[str, Any]:
        """This trial's model settings: the ``model_params`` entry of its own model type."""
        return dict(self.model_params.get(self.model_type, {}))


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a config dataclass (the CLI help texts come from here)."""
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs: dict[str, str] = {}
    for node, following in pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs
