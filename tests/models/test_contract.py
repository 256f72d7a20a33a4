"""One contract every model type passes, on every architecture and with 1 or 3 channels."""

import inspect

import pytest
import torch

from models import ARCHITECTURES, MODELS, build_model, load_model, save_model
from models.hyperparameters import HyperParameter

TERMS = {"beta_tcvae": {"mi", "tc", "dwkl"}, "annealed_vae": {"capacity"}, "dip_vae_i": {"dip_offdiag", "dip_diag"},
         "dip_vae_ii": {"dip_offdiag", "dip_diag"}, "factor_vae": {"tc"}}

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
    assert TERMS.get(model_type, set()) <= set(lo.terms)
    lo.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    check_auxiliary_objective(model, out, x)
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


def check_auxiliary_objective(model, out, x):
    """The auxiliary hooks: a no-op for a model without one; else its loss trains only the
    parameters outside main_parameters()."""
    aux = model.auxiliary_optimizer()
    main = {id(p) for p in model.main_parameters()}
    if aux is None:
        assert not model.needs_second_batch and main == {id(p) for p in model.parameters()}
        with pytest.raises(NotImplementedError, match="no auxiliary objective"):
            model.auxiliary_loss(out, x)
        return
    assert model.needs_second_batch
    aux_params = {id(p) for group in aux.param_groups for p in group["params"]}
    assert aux_params and not aux_params & main and aux_params | main == {id(p) for p in model.parameters()}
    aux.zero_grad(set_to_none=True)
    for p in model.main_parameters():
        p.grad = None
    lo = model.auxiliary_loss(out, x.flip(0))
    assert lo.loss.ndim == 0 and torch.isfinite(lo.loss) and all(not t.requires_grad for t in lo.terms.values())
    lo.loss.backward()
    assert all(p.grad is None for p in model.main_parameters())
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for group in aux.param_groups for p in group["params"])


@pytest.mark.parametrize("model_type", list(MODELS))
def test_declared_hyperparameters_are_constructor_keywords_recorded_in_config(model_type):
    cls = MODELS[model_type]
    assert isinstance(cls.hyperparameters, tuple)
    keywords = {name for name, p in inspect.signature(cls.__init__).parameters.items()
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    for hp in cls.hyperparameters:
        assert isinstance(hp, HyperParameter) and hp.name in keywords
        assert build_model(model_type, 2, dataset_size=1000).config[hp.name] == hp.default
        for value in hp.grid:
            model = build_model(model_type, 2, dataset_size=1000, **{hp.name: value})
            assert model.config[hp.name] == value


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
