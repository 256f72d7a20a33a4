"""Latent traversals: the prior's ±span for models with one, the observed range of the codes for
a model without one (the AE), whose code has no standard scale."""

import pytest
import torch

from analysis.images import latent_codes, traversal_grid
from models import build_model


def recording_decoder(model):
    """Record every batch of codes the model decodes."""
    seen = []
    decode = model.decode

    def record(z):
        seen.append(z.detach().clone())
        return decode(z)

    model.decode = record
    return seen


def test_ae_traversal_spans_the_observed_range_of_its_codes():
    torch.manual_seed(0)
    model = build_model("ae", 3, in_channels=1)
    image = torch.rand(1, 64, 64)
    codes = torch.stack([torch.linspace(-10.0, 30.0, 101), torch.linspace(0.0, 1.0, 101),
                         torch.linspace(5.0, 6.0, 101)], dim=1)  # 2nd/98th percentiles: -9.2/29.2 etc.
    seen = recording_decoder(model)
    grid = traversal_grid(model, image, steps=5, codes=codes)
    assert grid.shape == (3 * 66 + 2, 5 * 66 + 2, 3)
    mu = model.encode(image.unsqueeze(0))[0][0]
    expected = {0: (-9.2, 29.2), 1: (0.02, 0.98), 2: (5.02, 5.98)}
    assert len(seen) == 3
    for j, z in enumerate(seen):  # an AE's rows keep the dims' order
        assert torch.allclose(z[:, j], torch.linspace(*expected[j], 5), atol=1e-5), (j, z[:, j])
        others = [k for k in range(3) if k != j]
        assert torch.allclose(z[:, others], mu[others].expand(5, 2))
    with pytest.raises(ValueError, match="codes: a model without a prior needs the codes"):
        traversal_grid(model, image, steps=5)


def test_models_with_a_prior_sweep_its_span():
    torch.manual_seed(0)
    model = build_model("beta_vae", 3, in_channels=1)
    seen = recording_decoder(model)
    traversal_grid(model, torch.rand(1, 64, 64), steps=5, span=2.5, codes=torch.randn(50, 3) * 100)
    for z in seen:  # whatever the codes, the prior's ±2.5 in the swept dim
        swept = [j for j in range(3) if torch.allclose(z[:, j], torch.linspace(-2.5, 2.5, 5))]
        assert len(swept) == 1
    assert model.training


def test_latent_codes_are_the_encoder_means_in_batches():
    model = build_model("vae", 3, in_channels=1)
    x = torch.rand(10, 1, 64, 64)
    codes = latent_codes(model, x, batch_size=4)
    model.eval()
    assert codes.shape == (10, 3) and torch.allclose(codes, model.encode(x)[0], atol=1e-5)
