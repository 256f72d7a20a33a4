"""fp32 islands (models.precision): under bf16 autocast the networks run in bf16, every loss term in
float32, equal to the fp32 computation on the same network outputs cast to float32."""

import pytest
import torch

from models import MODELS, build_model
from models.factor_vae import _output_layer, discriminator_loss
from models.precision import fp32_island, to_float32

BF16 = dict(device_type="cpu", dtype=torch.bfloat16)


def make(model_type, likelihood="bernoulli"):
    torch.manual_seed(0)
    model = build_model(model_type, 5, in_channels=1, likelihood=likelihood, beta=8.0, dataset_size=1000)
    if model_type == "annealed_vae":
        model.iteration_threshold = 100
        model.train_step.fill_(40)  # C = 0.4·C_max: the capacity term is not zero
    return model.eval()  # AnnealedVAE advances its step in train mode only


def images(n=16):
    return torch.rand(n, 1, 64, 64, generator=torch.Generator().manual_seed(1)).round()


def expected_loss(model, x, out, reg_weight):
    """The loss in plain fp32 on ``out`` cast to float32, with FactorVAE's discriminator hidden
    layers (part of the network) as they ran under autocast."""
    out = to_float32(out)
    if model.model_type != "factor_vae":
        return model.loss(x, out, reg_weight=reg_weight)
    with torch.autocast(**BF16):
        *hidden, _ = model.discriminator
        h = out.z
        for layer in hidden:
            h = layer(h)
    tc = _output_layer(model.discriminator[-1], h.float())
    model.tc_per_image = lambda z: tc[:, 0] - tc[:, 1]
    try:
        return model.loss(x, out, reg_weight=reg_weight)
    finally:
        del model.tc_per_image


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("model_type", sorted(MODELS))
def test_loss_terms_are_float32_and_equal_the_fp32_computation(model_type, likelihood):
    model, x = make(model_type, likelihood), images()
    with torch.autocast(**BF16):
        out = model(x, noise_scale=0.7)
        lo = model.loss(x, out, reg_weight=0.7)
        assert model.decoder.dense[0](out.z).dtype == torch.bfloat16  # autocast is back on after the islands
    assert out.raw.dtype == torch.bfloat16  # the network ran in bf16 ...
    assert out.z.dtype == (torch.float32 if model.probabilistic else torch.bfloat16)  # a posterior sample is fp32
    assert lo.loss.dtype == torch.float32 and all(t.dtype == torch.float32 for t in lo.terms.values()), lo.terms
    torch.manual_seed(2)
    ref = expected_loss(model, x, out, reg_weight=0.7)
    torch.testing.assert_close(lo.loss, ref.loss, rtol=1e-6, atol=1e-5)
    assert lo.terms.keys() == ref.terms.keys()
    for name, value in lo.terms.items():
        torch.testing.assert_close(value, ref.terms[name], rtol=1e-6, atol=1e-5, msg=name)
    lo.loss.backward()  # gradients reach every weight, in float32
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in model.parameters())
    assert model.encoder.head[0].weight.grad is not None


def test_the_posterior_sample_is_float32_from_bf16_parameters():
    model = make("vae")
    mu, logvar = torch.randn(8, 5).bfloat16(), (torch.randn(8, 5) - 6).bfloat16()
    with torch.autocast(**BF16):
        torch.manual_seed(3)
        z = model.reparameterize(mu, logvar)
    torch.manual_seed(3)
    assert z.dtype == torch.float32 and torch.equal(z, model.reparameterize(mu.float(), logvar.float()))


def test_factor_vae_discriminator_logits_and_loss_are_float32():
    model = make("factor_vae")
    z, z2 = torch.randn(16, 5), torch.randn(16, 5)
    with torch.autocast(**BF16):
        logits = model.discriminator_logits(z)
        hidden = model.discriminator[:-1](z)
        loss, accuracy = discriminator_loss(logits, model.discriminator_logits(z2))
    assert hidden.dtype == torch.bfloat16  # the hidden layers are network: bf16
    assert logits.dtype == torch.float32 and loss.dtype == torch.float32 and accuracy.dtype == torch.float32
    torch.testing.assert_close(logits, model.discriminator[-1](hidden.float()), rtol=1e-6, atol=1e-6)
    with torch.autocast(**BF16):
        aux = model.auxiliary_loss(model(images()), images(), noise_scale=1.0)
    assert aux.loss.dtype == torch.float32 and all(t.dtype == torch.float32 for t in aux.terms.values())


def test_an_island_upcasts_half_precision_only_and_restores_autocast():
    seen = {}

    @fp32_island
    def probe(a, pair, b=None):
        seen.update(enabled=torch.is_autocast_enabled("cpu"), dtypes=(a.dtype, pair[0].dtype, b.dtype))
        return a @ a.T

    out = type("Pair", (tuple,), {"_fields": ("p", "q"), "__new__": lambda cls, p, q: tuple.__new__(cls, (p, q))})
    with torch.autocast(**BF16):
        result = probe(torch.ones(2, 2).bfloat16(), out(torch.ones(1).half(), 1), b=torch.ones(1).double())
        assert torch.is_autocast_enabled("cpu")
    assert seen == {"enabled": False, "dtypes": (torch.float32, torch.float32, torch.float64)}
    assert result.dtype == torch.float32
    assert isinstance(to_float32(out(torch.ones(1).bfloat16(), 2)), out)
