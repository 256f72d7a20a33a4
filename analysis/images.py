"""Image grids of a trained model: reconstructions, prior samples, latent traversals (seed report
Figs. 1–2). Torch and PIL only; the trial logs them to MLflow, the analysis assembles them."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def _grid(images: torch.Tensor, nrow: int, pad: int = 2) -> np.ndarray:
    """(N, C, H, W) in [0, 1] → uint8 (H', W', 3) grid with grey padding."""
    from torchvision.utils import make_grid

    grid = make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow, padding=pad, pad_value=0.5)
    array = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return array


def _eval_mode(model):
    was = model.training
    model.eval()
    return was


@torch.no_grad()
def reconstruction_grid(model, images: torch.Tensor, n: int = 8) -> np.ndarray:
    """Originals (top row) above their deterministic reconstructions (bottom row)."""
    was = _eval_mode(model)
    device = next(model.parameters()).device
    x = images[:n].to(device)
    grid = _grid(torch.cat([x, model.reconstruct(x)]), nrow=len(x))
    model.train(was)
    return grid


@torch.no_grad()
def sample_grid(model, n: int = 64, seed: int = 0) -> np.ndarray:
    """``n`` images decoded from z ~ N(0, I) (for the AE, which has no prior, these only show
    what its decoder makes of prior-like codes)."""
    was = _eval_mode(model)
    device = next(model.parameters()).device
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    grid = _grid(model.sample(n, generator=gen), nrow=int(np.ceil(np.sqrt(n))))
    model.train(was)
    return grid


@torch.no_grad()
def latent_codes(model, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The encoder's codes (means) of ``images``, (N, D) on the CPU: what :func:`traversal_grid`
    needs to sweep a model without a prior over the range its codes really take."""
    was = _eval_mode(model)
    device = next(model.parameters()).device
    codes = torch.cat([model.encode(images[i:i + batch_size].to(device))[0].cpu()
                       for i in range(0, len(images), batch_size)])
    model.train(was)
    return codes


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
    was = _eval_mode(model)
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
            model.train(was)
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
    grid = _grid(torch.cat(rows), nrow=steps)
    model.train(was)
    return grid


def save_png(array: np.ndarray, path: str) -> None:
    """Write a uint8 (H, W) or (H, W, C) array as PNG."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"array: expected uint8 image, got {array.dtype}")
    Image.fromarray(array.squeeze(-1) if array.ndim == 3 and array.shape[2] == 1 else array).save(path)
