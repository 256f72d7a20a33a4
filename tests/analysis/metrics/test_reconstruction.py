"""Reconstruction error, blur and score_model (with a stand-in model and a real trained one)."""

import math
from itertools import pairwise

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from analysis.metrics import blur_score, linear_probe_accuracy, score_model


def gaussian_blur(images, sigma):
    radius = int(3 * sigma) + 1
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-x**2 / (2 * sigma**2))
    k = (k / k.sum())
    c = images.shape[1]
    out = F.conv2d(images, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), padding=(0, radius), groups=c)
    return F.conv2d(out, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), padding=(radius, 0), groups=c)


@pytest.fixture(scope="module")
def images():
    from train.data import dsprites

    return dsprites().eval_set(64, seed=0)[0]


def test_blur_rises_monotonically_with_gaussian_kernel_width(images):
    # blur is the equivalent Gaussian radius in px: 0 for the identity, ≈ the kernel's σ otherwise
    # (a sampled σ = 0.5 kernel blurs a little less than a continuous Gaussian: it reads ≈ 0.41)
    assert blur_score(images, images) == pytest.approx(0.0, abs=1e-3)
    widths = (0.5, 1.0, 1.5, 2.5, 4.0)
    scores = [blur_score(gaussian_blur(images, s), images) for s in widths]
    assert all(a < b for a, b in pairwise(scores)), scores
    assert scores == pytest.approx(widths, abs=0.25)
    with pytest.raises(ValueError, match="every original is constant"):
        blur_score(images, torch.zeros_like(images))


def test_blur_and_shape_of_reconstructions(images):
    from analysis.metrics.reconstruction import blur_and_shape
    from tests.analysis.metrics.probes import shift

    rng = np.random.default_rng(0)
    blurred = blur_and_shape(gaussian_blur(images, 1.5), images, rng)
    assert blurred["collapsed"] == 0.0 and blurred["output_variation"] > 0.5
    assert blurred["blur"] == pytest.approx(1.5, abs=0.15) and blurred["shape_error"] < 0.02
    moved = blur_and_shape(shift(gaussian_blur(images, 1.5), 0, 2), images, rng)
    assert moved["blur"] == pytest.approx(blurred["blur"], abs=0.02) and moved["shape_error"] > 0.05
    assert moved["blur_se"] >= 0 and moved["shape_error_se"] > 0


def test_linear_probe_accuracy():
    g = np.random.default_rng(0)
    labels = g.integers(0, 2, (400, 3))
    informative = labels + 0.1 * g.normal(size=labels.shape)
    assert linear_probe_accuracy(informative[:200], labels[:200], informative[200:], labels[200:]) > 0.95
    noise = g.normal(size=(400, 3))
    assert abs(linear_probe_accuracy(noise[:200], labels[:200], noise[200:], labels[200:]) - 0.5) < 0.1


class TinyModel(torch.nn.Module):
    """A contract stand-in: linear encoder/decoder with a Bernoulli likelihood."""

    def __init__(self, d=4):
        super().__init__()
        from models.likelihoods import Bernoulli

        self.latent_dim = d
        self.enc = torch.nn.Linear(64 * 64, d)
        self.dec = torch.nn.Linear(d, 64 * 64)
        self.likelihood = Bernoulli()

    def encode(self, x):
        return self.enc(x.flatten(1)), None

    def decode(self, z):
        return self.dec(z).view(-1, 1, 64, 64)

    def sample(self, n, generator=None):
        return self.likelihood.mean(self.decode(torch.randn(n, self.latent_dim, generator=generator)))


@pytest.mark.slow  # scores every preset on dSprites: the slowest unit test of the metrics
def test_score_model_presets_and_names():
    from train.data import dsprites

    model = TinyModel()
    model.train()
    data = dsprites()
    recon = score_model(model, data, np.random.default_rng(0), "recon")
    assert set(recon) == {"recon_error", "recon_error_se", "recon_error_sampled", "recon_mse", "blur", "blur_se",
                          "shape_error", "shape_error_se", "output_variation", "collapsed", "blur_samples",
                          "blur_samples_se", "data_sharpness", "sample_distance", "sample_distance_se",
                          "data_distance", "metric_preset"}
    assert recon["recon_error_sampled"] == recon["recon_error"]  # logvar None: nothing to sample
    assert abs(recon["data_sharpness"]) < 0.1  # the data against its own mean spectrum
    # an untrained linear decoder draws nearly the same image for every input: collapsed, no blur
    assert recon["collapsed"] == 1.0 and recon["output_variation"] < 0.05
    assert all(math.isnan(recon[k]) for k in ("blur", "blur_se", "shape_error", "shape_error_se"))
    assert recon["metric_preset"] == "recon" and model.training
    fast = score_model(model, data, np.random.default_rng(0), "fast",
                       eval_images=data.eval_set(128)[0])
    for name in ("beta_vae_score", "factor_vae_score", "mig", "sap", "beta_vae_train_accuracy"):
        assert isinstance(fast[name], float), name
    for name in ("beta_vae_score", "factor_vae_score", "mig", "sap", "recon_error"):
        assert fast[f"{name}_se"] >= 0, name
    # the fast preset's classifier metrics are scored on 1,000 points: binomial SE <= 0.016
    assert fast["beta_vae_score_se"] <= 0.0159 and fast["factor_vae_score_se"] <= 0.0159
    assert fast["metric_preset"] == "fast" and fast["metric_codes"] == "pool"
    again = score_model(model, data, np.random.default_rng(0), "fast", eval_images=data.eval_set(128)[0])
    assert again == fast
    with pytest.raises(ValueError, match="metrics: unknown preset 'huge'"):
        score_model(model, data, np.random.default_rng(0), "huge")


class TinyVAE(TinyModel):
    """TinyModel with a Gaussian encoder of fixed posterior std 0.5."""

    def encode(self, x):
        mu = self.enc(x.flatten(1))
        return mu, torch.full_like(mu, 2 * np.log(0.5))


def test_recon_error_sampled_decodes_one_posterior_draw(images):
    from analysis.metrics import reconstruction_scores

    torch.manual_seed(0)
    model = TinyVAE()
    scores = [reconstruction_scores(model, images, generator=torch.Generator().manual_seed(seed))
              for seed in (1, 1, 2)]
    assert scores[0] == scores[1]  # the generator fixes the draws
    assert scores[0]["recon_error"] == scores[2]["recon_error"]  # the mean path draws nothing
    assert scores[0]["recon_error_sampled"] != scores[2]["recon_error_sampled"]
    assert scores[0]["recon_error_sampled"] != scores[0]["recon_error"]
    assert scores[0]["blur_samples_se"] >= 0
    # recon_error_se: the standard error of the mean per-image NLL, written out image by image
    with torch.no_grad():
        nll = [float(model.likelihood.nll(x[None], model.decode(model.encode(x[None])[0]))[0]) for x in images]
    mean = sum(nll) / len(nll)
    sd = (sum((v - mean) ** 2 for v in nll) / (len(nll) - 1)) ** 0.5
    assert scores[0]["recon_error"] == pytest.approx(mean, rel=1e-5)
    assert scores[0]["recon_error_se"] == pytest.approx(sd / len(nll) ** 0.5, rel=1e-4)


@pytest.mark.integration
def test_short_dsprites_training_beats_chance():
    from analysis.metrics import PoolCodes, beta_vae_score, make_represent
    from models import build_model
    from train.data import dsprites

    torch.manual_seed(0)
    data = dsprites()
    model = build_model("beta_vae", 6, beta=4.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for step in range(250):
        x = data.train_batch(64, g)
        ramp = min(1.0, step / 150)  # the trial's warm-up: regulariser and posterior noise ramp together
        loss = model.loss(x, model(x, noise_scale=ramp), reg_weight=ramp).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    rng = np.random.default_rng(0)  # the fast preset's code source: a pool of grid points encoded once
    score = beta_vae_score(PoolCodes(data, make_represent(model), 4096, rng), rng, num_train=300, num_eval=200)
    assert score["eval_accuracy"] > 0.2 + 0.15  # chance is 1/5 on dSprites' five varying factors
