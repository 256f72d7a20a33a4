"""The networks layer for layer: parameter counts against hand counts, feature shapes, one training
step of every model type on disentanglement_lib's network."""

import pytest
import torch

from models import MODELS, build_model
from models.networks import (
    ARCHITECTURES,
    BurgessDecoder,
    BurgessEncoder,
    DisentanglementLibDecoder,
    DisentanglementLibEncoder,
    build_networks,
)


def count(module):
    return sum(p.numel() for p in module.parameters())


# disentanglement_lib's conv_encoder, C channels, out = encoder outputs (2·D; D for the AE):
#   conv 32 k4: 16·C·32 + 32 = 512·C + 32     conv 32 k4: 16·32·32 + 32 = 16,416
#   conv 64 k2:  4·32·64 + 64 = 8,256         conv 64 k2:  4·64·64 + 64 = 16,448
#   dense 256: 1024·256 + 256 = 262,400       head: 256·out + out = 257·out
#   total 303,552 + 512·C + 257·out: C=1, out=20 → 309,204; C=3, out=20 → 310,228;
#   C=1, out=12 (D=6) → 307,148; C=1, out=10 (AE, D=10) → 306,634.
# deconv_decoder, D latents, C channels:
#   dense 256: 256·D + 256                    dense 1024: 256·1024 + 1024 = 263,168
#   tconv 64 k4: 16·64·64 + 64 = 65,600       tconv 32 k4: 16·64·32 + 32 = 32,800
#   tconv 32 k4: 16·32·32 + 32 = 16,416       tconv C k4: 16·32·C + C = 513·C
#   total 378,240 + 256·D + 513·C: D=10, C=1 → 381,313; D=10, C=3 → 382,339; D=6, C=1 → 380,289.
DLIB_COUNTS = [  # (C, D, encoder outputs, encoder, decoder)
    (1, 10, 20, 309_204, 381_313),
    (3, 10, 20, 310_228, 382_339),
    (1, 6, 12, 307_148, 380_289),
    (1, 10, 10, 306_634, 381_313),
]


@pytest.mark.parametrize("channels,latent_dim,outputs,n_encoder,n_decoder", DLIB_COUNTS)
def test_disentanglement_lib_parameter_counts_match_the_hand_counts(channels, latent_dim, outputs,
                                                                     n_encoder, n_decoder):
    encoder, decoder = build_networks("disentanglement_lib", channels, latent_dim, outputs)
    assert type(encoder) is DisentanglementLibEncoder and type(decoder) is DisentanglementLibDecoder
    assert (count(encoder), count(decoder)) == (n_encoder, n_decoder)


def test_the_models_use_the_network_they_name():
    vae = build_model("vae", 10, architecture="disentanglement_lib")
    ae = build_model("ae", 10, architecture="disentanglement_lib")
    assert (count(vae.encoder), count(vae.decoder)) == (309_204, 381_313)
    assert count(ae.encoder) == 306_634 and vae.config["architecture"] == "disentanglement_lib"


def test_burgess_is_burgess_2018_and_not_the_disentanglement_lib_network():
    # 4 conv 32 k4 (544 + 3 · 16,416) + 512·256 + 256 + 256·256 + 256 + 257·20 = 252,052;
    # 256·10 + 256 + 65,792 + 256·512 + 512 + 3 · 16,416 + 513 = 249,953.
    assert (count(BurgessEncoder(1, 20)), count(BurgessDecoder(10, 1))) == (252_052, 249_953)
    assert ARCHITECTURES["burgess"] == (BurgessEncoder, BurgessDecoder)
    assert "disentanglement_lib" in (BurgessEncoder.__doc__ or "")  # it says which one it is not
    assert "Locatello" in (DisentanglementLibEncoder.__doc__ or "")


@pytest.mark.parametrize("channels", [1, 3])
def test_disentanglement_lib_feature_shapes(channels):
    encoder, decoder = build_networks("disentanglement_lib", channels, 10, 20)
    x = torch.rand(2, channels, 64, 64)
    shapes = []
    for layer in encoder.features:
        x = layer(x)
        if isinstance(layer, torch.nn.ReLU):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(32, 32, 32), (32, 16, 16), (64, 8, 8), (64, 4, 4)]  # (channels, H, W)
    assert x.shape == (2, 1024) and encoder.head(x).shape == (2, 20)
    h = decoder.dense(torch.randn(2, 10)).view(-1, 64, 4, 4)
    shapes = []
    for layer in decoder.deconv:
        h = layer(h)
        if isinstance(layer, torch.nn.ConvTranspose2d):
            shapes.append(tuple(h.shape[1:]))
    assert shapes == [(64, 8, 8), (32, 16, 16), (32, 32, 32), (channels, 64, 64)]
    assert isinstance(decoder.deconv[-1], torch.nn.ConvTranspose2d)  # no activation on the output
    assert decoder(torch.randn(2, 10)).shape == (2, channels, 64, 64)


def seeded_loss(model, x):
    torch.manual_seed(1)  # the same sampling noise before and after the step
    return model.loss(x, model(x)).loss


@pytest.mark.parametrize("model_type", sorted(MODELS))
def test_every_model_type_trains_a_step_on_the_disentanglement_lib_network(model_type):
    torch.manual_seed(0)
    model = build_model(model_type, 4, architecture="disentanglement_lib", dataset_size=1000)
    g = torch.Generator().manual_seed(0)
    x, x2 = (torch.rand(8, 1, 64, 64, generator=g).round() for _ in range(2))
    opt = torch.optim.Adam(model.main_parameters(), lr=1e-3)
    model.eval()
    with torch.no_grad():
        before = seeded_loss(model, x)
    weights = [p.detach().clone() for p in model.main_parameters()]
    model.train()
    out = model(x)
    opt.zero_grad(set_to_none=True)
    model.loss(x, out).loss.backward()
    opt.step()
    assert all(not torch.equal(p, q) for p, q in zip(model.main_parameters(), weights, strict=True))
    aux = model.auxiliary_optimizer()
    if aux is not None:  # FactorVAE's discriminator on a second batch, as the trainer does
        aux.zero_grad(set_to_none=True)
        model.auxiliary_loss(out, x2).loss.backward()
        aux.step()
    model.eval()
    with torch.no_grad():
        after = seeded_loss(model, x)
    assert torch.isfinite(after) and after < before
