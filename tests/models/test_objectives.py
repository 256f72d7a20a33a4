"""The maths of the objectives and of the β-TCVAE minibatch estimators, against computable truth."""

import math

import pytest
import torch
import torch.nn.functional as F

from models import build_model
from models.estimators import (gaussian_kl, log_density_gaussian, log_importance_weights,
                               minibatch_log_qz)


def test_closed_form_kl_matches_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.tensor([0.7, -1.2, 0.0]), torch.tensor([-0.5, 0.8, 0.0])
    z = mu + torch.exp(0.5 * logvar) * torch.randn(400_000, 3)
    mc = (log_density_gaussian(z, mu, logvar) - log_density_gaussian(z, torch.zeros(3), torch.zeros(3))).mean(0)
    assert torch.allclose(gaussian_kl(mu, logvar), mc, atol=0.01)
    assert gaussian_kl(torch.zeros(2), torch.zeros(2)).abs().max() == 0


@pytest.mark.parametrize("method", ["mss", "mws"])
def test_weight_matrix_rows(method):
    n, m = 1000, 8
    w = log_importance_weights(m, n, method).double().exp()
    if method == "mss":
        assert torch.allclose(w.sum(1), torch.ones(m, dtype=torch.float64))
        assert torch.allclose(torch.diagonal(w), torch.full((m,), 1 / n, dtype=torch.float64))
    else:
        assert torch.allclose(w, torch.full((m, m), 1 / (n * m), dtype=torch.float64))


class GaussianDataset:
    """N Gaussian posteriors q(z|n) = N(mu_n, diag var_n): the exact aggregate q(z) is computable."""

    def __init__(self, n=64, d=3, correlated=False, seed=0, grid=False):
        g = torch.Generator().manual_seed(seed)
        if grid:  # means on a full Cartesian grid: q(z) is exactly the product of its marginals
            side = round(n ** (1 / d))
            axes = [torch.randn(side, generator=g, dtype=torch.float64) * 2.0 for _ in range(d)]
            base = torch.cartesian_prod(*axes)
            n = len(base)
        else:
            base = torch.randn(n, 1 if correlated else d, generator=g, dtype=torch.float64) * 2.0
        self.mu = base.expand(n, d).clone() if correlated else base
        self.logvar = torch.full((n, d), math.log(0.05), dtype=torch.float64)
        self.n = n

    def exact(self, z):
        """Exact log q(z) and Σ_d log q(z_d) for samples z (B, D)."""
        mat = log_density_gaussian(z[:, None, :], self.mu[None], self.logvar[None])
        log_qz = torch.logsumexp(mat.sum(2), 1) - math.log(self.n)
        log_qzd = (torch.logsumexp(mat, 1) - math.log(self.n)).sum(1)
        return log_qz, log_qzd

    def batches(self, m, count, seed=1):
        g = torch.Generator().manual_seed(seed)
        for _ in range(count):
            idx = torch.randperm(self.n, generator=g)[:m]
            mu, logvar = self.mu[idx], self.logvar[idx]
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g, dtype=torch.float64)
            yield z, mu, logvar


def _errors(ds, method, m=16, count=400):
    err_qz, err_qzd = [], []
    for z, mu, logvar in ds.batches(m, count):
        est_qz, est_qzd = minibatch_log_qz(z, mu, logvar, ds.n, method)
        ex_qz, ex_qzd = ds.exact(z)
        err_qz.append((est_qz - ex_qz).mean())
        err_qzd.append((est_qzd - ex_qzd).mean())
    return float(torch.stack(err_qz).mean()), float(torch.stack(err_qzd).mean())


def test_mss_approaches_exact_and_beats_mws():
    ds = GaussianDataset()  # N = 64 posteriors in 3-D
    errors = {m: _errors(ds, "mss", m, 300) for m in (8, 32, 63)}
    for which in (0, 1):  # log q(z), then Σ_d log q(z_d): the bias shrinks as the batch grows
        assert abs(errors[8][which]) > abs(errors[32][which]) > abs(errors[63][which])
    assert abs(errors[63][0]) < 0.01 and abs(errors[63][1]) < 0.02
    assert abs(errors[32][0]) < 0.05 and abs(errors[32][1]) < 0.3
    mws = _errors(ds, "mws", 32, 300)
    assert abs(errors[32][0]) < abs(mws[0]) and abs(errors[32][1]) < abs(mws[1])
    # MWS sits about log N below the truth (module docstring), D·log N for the product of marginals
    assert mws[0] == pytest.approx(-math.log(ds.n), abs=1.0)
    assert mws[1] == pytest.approx(-3 * math.log(ds.n), abs=1.5)


def test_mss_estimate_of_q_is_unbiased():
    ds = GaussianDataset(n=32, d=2)
    m = 8
    g = torch.Generator().manual_seed(3)
    z0 = ds.mu[0] + torch.exp(0.5 * ds.logvar[0]) * torch.randn(2, generator=g, dtype=torch.float64)
    exact = float(ds.exact(z0[None])[0].exp())
    log_w = log_importance_weights(m, ds.n, "mss", dtype=torch.float64)
    estimates = []
    for _ in range(20000):  # batches containing point 0 first, the rest uniform without replacement
        others = torch.randperm(ds.n - 1, generator=g)[: m - 1] + 1
        idx = torch.cat([torch.tensor([0]), others])
        log_q = log_density_gaussian(z0[None], ds.mu[idx], ds.logvar[idx]).sum(1)
        estimates.append(torch.logsumexp(log_q + log_w[0], 0).exp())
    mean = float(torch.stack(estimates).mean())
    assert mean == pytest.approx(exact, rel=0.03)


def test_total_correlation_zero_when_independent_positive_when_correlated():
    def tc(ds):
        vals = [minibatch_log_qz(z, mu, lv, ds.n, "mss") for z, mu, lv in ds.batches(48, 200)]
        return float(torch.stack([(a - b).mean() for a, b in vals]).mean())

    # Independent: posterior means on a 4×4×4 grid, so q(z) = Π_d q(z_d) exactly (a finite set of
    # random means would not be factorised). Batch 48 of N = 64 keeps the estimator bias small.
    independent = tc(GaussianDataset(n=64, d=3, seed=0, grid=True))
    correlated = tc(GaussianDataset(n=64, d=3, correlated=True, seed=0))
    assert abs(independent) < 0.25
    assert correlated > 2.0 and correlated > independent + 2.0


def _same_weights(*models):
    for m in models[1:]:
        m.load_state_dict(models[0].state_dict())


def test_decomposition_sums_to_monte_carlo_kl_and_tcvae_beta1_equals_vae():
    torch.manual_seed(0)
    vae = build_model("vae", 4)
    tc = build_model("beta_tcvae", 4, beta=1.0, dataset_size=10_000)
    _same_weights(vae, tc)
    x = torch.rand(64, 1, 64, 64).round()
    torch.manual_seed(1)
    out = tc(x)
    mi, tcv, dwkl = tc.decomposition(out)
    mc_kl = (log_density_gaussian(out.z, out.mu, out.logvar).sum(1)
             - log_density_gaussian(out.z, torch.zeros(()), torch.zeros(())).sum(1))
    assert torch.allclose(mi + tcv + dwkl, mc_kl, atol=1e-3)
    closed = gaussian_kl(out.mu, out.logvar).sum(1).mean()
    losses_tc, losses_vae = [], []
    for seed in range(200):
        torch.manual_seed(seed)
        o = tc(x)
        losses_tc.append(float(tc.loss(x, o).loss))
        losses_vae.append(float(vae.loss(x, o).loss))
    diff = sum(losses_tc) / 200 - sum(losses_vae) / 200
    assert abs(diff) < 0.05 * float(closed) + 0.05


def test_beta_vae_with_beta_one_is_exactly_vae():
    vae, bvae = build_model("vae", 4), build_model("beta_vae", 4, beta=1.0)
    _same_weights(vae, bvae)
    x = torch.rand(8, 1, 64, 64).round()
    torch.manual_seed(0)
    out = vae(x)
    assert torch.equal(vae.loss(x, out).loss, bvae.loss(x, out).loss)
    bvae4 = build_model("beta_vae", 4, beta=4.0)
    _same_weights(vae, bvae4)
    lo = bvae4.loss(x, out)
    assert torch.allclose(lo.loss, lo.terms["recon"] + 4 * lo.terms["kl"])


def test_ae_loss_is_summed_squared_error_and_bernoulli_is_bce():
    ae = build_model("ae", 4, likelihood="gaussian")
    x = torch.rand(5, 1, 64, 64)
    out = ae(x)
    assert torch.allclose(ae.loss(x, out).loss, (out.raw - x).square().sum((1, 2, 3)).mean())
    vae = build_model("vae", 4)
    xb = x.round()
    raw = torch.randn(5, 1, 64, 64)
    expected = F.binary_cross_entropy_with_logits(raw, xb, reduction="sum") / 5
    assert torch.allclose(vae.likelihood.nll(xb, raw).mean(), expected)
