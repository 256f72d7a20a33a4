"""One contract every model type passes, for both architectures and 1 or 3 channels."""

import pytest
import torch

from models import ARCHITECTURES, MODELS, build_model, load_model, save_model

CASES = [(m, a, c) for m in MODELS for a in ARCHITECTURES for c in (1, 3)]


def make(model_type, arch, channels, latent_dim=5):
    torch.manual_seed(0)
    likelihood = "bernoulli" if channels == 1 else "gaussian"
    return build_model(model_type, latent_dim, architecture=arch, in_channels=channels,
                       likelihood=likelihood, beta=3.0, dataset_size=1000)


@pytest.mark.parametrize("model_type,arch,channels", CASES)
def test_model_contract(model_type, arch, channels, tmp_path):
    model = make(model_type, arch, channels)
    x = torch.rand(6, channels, 64, 64)
    if channels == 1:
        x = x.round()
    mu, logvar = model.encode(x)
    assert mu.shape == (6, 5)
    assert (logvar is None) == (model_type == "ae")
    assert model.decode(mu).shape == (6, channels, 64, 64)
    out = model(x)
    assert out.raw.shape == x.shape and out.z.shape == (6, 5)
    lo = model.loss(x, out)
    assert lo.loss.ndim == 0 and torch.isfinite(lo.loss)
    assert "recon" in lo.terms and all(t.ndim == 0 and not t.requires_grad for t in lo.terms.values())
    if model_type != "ae":
        assert "kl" in lo.terms
    if model_type == "beta_tcvae":
        assert {"mi", "tc", "dwkl"} <= set(lo.terms)
    lo.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    rec = model.reconstruct(x)
    samples = model.sample(4)
    for img in (rec, samples):
        assert img.min() >= 0 and img.max() <= 1
    assert rec.shape == x.shape and samples.shape == (4, channels, 64, 64)
    model.eval()
    path = tmp_path / "m.pt"
    save_model(model, str(path))
    again = load_model(str(path)).eval()
    assert type(again) is type(model) and again.config == model.config
    assert torch.equal(again.reconstruct(x), model.reconstruct(x))


def test_unknown_names_give_clear_errors():
    with pytest.raises(ValueError, match="model_type: unknown model type 'wae'.*beta_tcvae"):
        build_model("wae", 4)
    with pytest.raises(ValueError, match="architecture: unknown architecture 'resnet'.*burgess"):
        build_model("vae", 4, architecture="resnet")
    with pytest.raises(ValueError, match="likelihood: unknown likelihood 'poisson'"):
        build_model("vae", 4, likelihood="poisson")
    with pytest.raises(ValueError, match="dataset_size"):
        build_model("beta_tcvae", 4)


def test_parameter_counts_match_the_papers():
    burgess = build_model("vae", 10, architecture="burgess")
    n = sum(p.numel() for p in burgess.parameters())
    assert 450_000 < n < 550_000  # "about 0.5 M parameters"
