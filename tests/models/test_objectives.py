"""The maths of the objectives and of the β-TCVAE minibatch estimators, against computable truth."""

import math

import pytest
import torch
import torch.nn.functional as F

from models import build_model, load_model, save_model
from models.estimators import gaussian_kl, log_density_gaussian, log_importance_weights, minibatch_log_qz
from models.likelihoods import Gaussian, get_likelihood


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
    # MWS sits between −log N and −log M below the truth, depending on the posteriors' overlap
    # (module docstring; D·log for the product of marginals). These posteriors barely overlap in
    # 3-D (bias ≈ −log M) but their 1-D marginals do; the limits are told apart in
    # test_mws_bias_is_minus_log_m_when_separated_and_minus_log_n_when_identical.
    log_n, log_m = math.log(ds.n), math.log(32)
    assert -log_n - 0.1 < mws[0] < -log_m + 0.1
    assert -3 * log_n - 0.3 < mws[1] < -3 * log_m + 0.3


def test_mws_bias_is_minus_log_m_when_separated_and_minus_log_n_when_identical():
    """The two limits of the MWS bias (module docstring), N = 10,000 posteriors, batches of M = 64,
    against the exact log q(z) of the finite mixture: (a) sharp, well-separated posteriors (means
    on a 100 × 100 unit grid, sd 0.01: 100 sd apart) give −log M; (b) identical posteriors give
    −log N. log N − log M ≈ 5.05, the tolerance 0.05. MSS is exact in both."""
    n, m = 10_000, 64
    axis = torch.arange(100, dtype=torch.float64)
    separated = (torch.cartesian_prod(axis, axis), torch.full((n, 2), math.log(1e-4), dtype=torch.float64))
    identical = (torch.zeros(n, 2, dtype=torch.float64), torch.zeros(n, 2, dtype=torch.float64))
    g = torch.Generator().manual_seed(0)
    for (mu_all, logvar_all), expected in ((separated, -math.log(m)), (identical, -math.log(n))):
        bias = {"mss": [], "mws": []}
        for _ in range(4):
            idx = torch.randperm(n, generator=g)[:m]
            mu, logvar = mu_all[idx], logvar_all[idx]
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g, dtype=torch.float64)
            exact = (torch.logsumexp(log_density_gaussian(z[:, None], mu_all[None], logvar_all[None]).sum(2), 1)
                     - math.log(n))
            for method in bias:
                bias[method].append(minibatch_log_qz(z, mu, logvar, n, method)[0] - exact)
        mws, mss = torch.cat(bias["mws"]), torch.cat(bias["mss"])
        assert float(mws.mean()) == pytest.approx(expected, abs=0.05)
        assert float((mws - expected).abs().max()) < 0.05  # every sample, not only on average
        assert float(mss.abs().max()) < 0.05


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


def test_gaussian_nll_is_the_squared_error_over_two_variance():
    g = torch.Generator().manual_seed(0)
    x, raw = torch.rand(4, 3, 64, 64, generator=g), torch.rand(4, 3, 64, 64, generator=g)
    sse = (x - raw).square().sum((1, 2, 3))
    assert torch.allclose(get_likelihood("gaussian").nll(x, raw), sse)  # default σ² = 1/2
    assert torch.allclose(get_likelihood("gaussian", 0.5).nll(x, raw), sse)
    assert torch.allclose(get_likelihood("gaussian", 2.0).nll(x, raw), sse / 4)
    assert get_likelihood("bernoulli", 2.0) is get_likelihood("bernoulli")  # no variance: ignored
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="gaussian_variance"):
            Gaussian(bad)


def test_gaussian_variance_is_used_and_kept_through_save_and_load(tmp_path):
    torch.manual_seed(0)
    model = build_model("beta_vae", 4, in_channels=3, likelihood="gaussian", gaussian_variance=2.0, beta=5.0)
    assert model.likelihood.variance == 2.0 and model.config["gaussian_variance"] == 2.0
    x = torch.rand(3, 3, 64, 64)
    out = model(x)
    assert torch.allclose(model.loss(x, out).terms["recon"], (out.raw - x).square().sum((1, 2, 3)).mean() / 4)
    save_model(model, str(tmp_path / "m.pt"))
    again = load_model(str(tmp_path / "m.pt"))
    assert again.likelihood.variance == 2.0 and again.config == model.config
    assert torch.equal(again.recon_nll(x, out), model.recon_nll(x, out))
    # the default, and a Bernoulli model (which has no σ² to record)
    assert build_model("vae", 4, likelihood="gaussian").likelihood.variance == 0.5
    assert "gaussian_variance" not in build_model("vae", 4, gaussian_variance=2.0).config
