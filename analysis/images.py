"""Image grids of a trained model: reconstructions, prior samples, latent traversals (seed report
Figs. 1–2). Torch and PIL only; the trial logs them to MLflow, the analysis assembles them."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from models.modes import evaluating


def _grid(images: torch.Tensor, nrow: int, pad: int = 2) -> np.ndarray:
    """(N, C, H, W) in [0, 1] → uint8 (H', W', 3) grid with grey padding."""
    from torchvision.utils import make_grid

    grid = make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow, padding=pad, pad_value=0.5)
    array = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return array


@torch.no_grad()
def reconstruction_grid(model, images: torch.Tensor, n: int = 8) -> np.ndarray:
    """Originals (top row) above their deterministic reconstructions (bottom row)."""
    with evaluating(model):
        x = images[:n].to(next(model.parameters()).device)
        return _grid(torch.cat([x, model.reconstruct(x)]), nrow=len(x))


@torch.no_grad()
def sample_grid(model, n: int = 64, seed: int = 0) -> np.ndarray:
    """``n`` images decoded from z ~ N(0, I) (for the AE, which has no prior, these only show
    what its decoder makes of prior-like codes)."""
    with evaluating(model):
        gen = torch.Generator(device=next(model.parameters()).device)
        gen.manual_seed(seed)
        return _grid(model.sample(n, generator=gen), nrow=int(np.ceil(np.sqrt(n))))


@torch.no_grad()
def latent_codes(model, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The encoder's codes (means) of ``images``, (N, D) on the CPU: what :func:`traversal_grid`
    needs to sweep a model without a prior over the range its codes really take."""
    with evaluating(model):
        device = next(model.parameters()).device
        return torch.cat([model.encode(images[i:i + batch_size].to(device))[0].cpu()
                          for i in range(0, len(images), batch_size)])


#: Percentiles of the observed codes a no-prior traversal spans (robust to a few outliers).
OBSERVED_RANGE = (2.0, 98.0)


@torch.no_grad()
def traversal_grid(model, image: torch.Tensor, steps: int = 10, span: float = 2.5,
                   max_dims: int = 10, codes: torch.Tensor | None = None) -> np.ndarray:
    """One row per latent dim: decode the image's code with that dim swept across a range.

    With a prior (encode returns a log-variance) the range is the prior's ±``span``, rows ordered
    by the dim's KL (most informative first). A model without one (the AE) has no standard scale:
    its dim j sweeps the 2nd–98th percentile of ``codes[:, j]``, the codes of a batch of
    evaluation images (:func:`latent_codes`), so the row shows what the decoder does over the
    values its codes really take.
    """
    with evaluating(model):
        return _traversal(model, image, steps, span, max_dims, codes)


def _traversal(model, image: torch.Tensor, steps: int, span: float, max_dims: int,
               codes: torch.Tensor | None) -> np.ndarray:
    device = next(model.parameters()).device
    x = image.unsqueeze(0).to(device) if image.ndim == 3 else image[:1].to(device)
    mu, logvar = model.encode(x)
    dims = list(range(model.latent_dim))
    if logvar is not None:
        kl = model.kl_per_dim(mu, logvar)
        dims = sorted(dims, key=lambda j: -float(kl[j]))
        ranges = torch.tensor([[-span, span]] * model.latent_dim)
    else:
        if codes is None or len(codes) < 2:
            raise ValueError("codes: a model without a prior needs the codes of a batch of evaluation "
                             "images (analysis.images.latent_codes) to span each latent's observed range")
        q = torch.tensor([p / 100.0 for p in OBSERVED_RANGE])
        ranges = torch.quantile(codes.detach().float().cpu(), q, dim=0).T  # (D, 2)
    dims = dims[:max_dims]
    rows = []
    for j in dims:
        z = mu.repeat(steps, 1)
        lo, hi = (float(v) for v in ranges[j])
        z[:, j] = torch.linspace(lo, hi, steps, device=device)
        rows.append(model.likelihood.mean(model.decode(z)))
    return _grid(torch.cat(rows), nrow=steps)


def save_png(array: np.ndarray, path: str) -> None:
    """Write a uint8 (H, W) or (H, W, C) array as PNG."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"array: expected uint8 image, got {array.dtype}")
    Image.fromarray(array.squeeze(-1) if array.ndim == 3 and array.shape[2] == 1 else array).save(path)


def write_trial_figures(model, eval_images: torch.Tensor, out_dir: str, seed: int = 0) -> dict[str, str]:
    """Render a trained model's figures once, as PNGs under ``out_dir``; returns artifact path →
    file (:class:`analysis.schema.Artifact`): reconstructions of 8 evaluation images, 64 prior
    samples (seeded), and the traversals of the first evaluation image, whose no-prior ranges come
    from the codes of all of ``eval_images`` (use a few hundred)."""
    import os

    from analysis.schema import Artifact

    figures = {
        Artifact.RECONSTRUCTIONS: reconstruction_grid(model, eval_images[:8]),
        Artifact.SAMPLES: sample_grid(model, n=64, seed=seed),
        Artifact.TRAVERSALS: traversal_grid(model, eval_images[0], codes=latent_codes(model, eval_images)),
    }
    files = {}
    for artifact_path, array in figures.items():
        files[artifact_path] = os.path.join(out_dir, artifact_path)
        os.makedirs(os.path.dirname(files[artifact_path]), exist_ok=True)
        save_png(array, files[artifact_path])
    return files
