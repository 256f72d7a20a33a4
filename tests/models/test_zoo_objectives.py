"""The disentanglement_lib zoo models (AnnealedVAE, DIP-VAE-I/II, FactorVAE) against loop oracles,
one optimiser step, and a save/load round trip that resumes training exactly."""

import math

import pytest
import torch

from models import build_model, factor_vae, load_model, save_model
from models.base import ModelOutput

ZOO = ["annealed_vae", "dip_vae_i", "dip_vae_ii", "factor_vae"]
LATENT = 3


def images(batch=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 1, 64, 64, generator=g).round()


def fake_output(batch=5, seed=0):
    """A ModelOutput with chosen q(z|x) parameters: correlated means, KL of a few nats per image."""
    g = torch.Generator().manual_seed(seed)
    shared = torch.randn(batch, 1, generator=g)
    mu = 1.5 * (torch.randn(batch, LATENT, generator=g) + shared)
    logvar = 0.5 * torch.randn(batch, LATENT, generator=g) - 0.5
    z = mu + torch.exp(0.5 * logvar) * torch.randn(batch, LATENT, generator=g)
    return ModelOutput(torch.randn(batch, 1, 64, 64, generator=g), mu, logvar, z)


def kl_loop(out):
    """Closed-form KL per image, ½ Σ_d (μ² + σ² − log σ² − 1), with explicit loops."""
    return [sum(0.5 * (m * m + math.exp(lv) - lv - 1.0) for m, lv in zip(mus, lvs, strict=True))
            for mus, lvs in zip(out.mu.tolist(), out.logvar.tolist(), strict=True)]


def mean(values):
    return sum(values) / len(values)


# --- (a) loop oracles -------------------------------------------------------------------------


def test_annealed_vae_matches_loop_oracle_and_advances_its_step_only_in_training():
    model = build_model("annealed_vae", LATENT, c_max=10.0, gamma=7.0, iteration_threshold=4)
    out = fake_output()
    x = images(5)
    recon, kl = float(model.recon_nll(x, out).mean()), mean(kl_loop(out))
    assert 3.0 < kl < 9.0  # so that KL − C changes sign along the schedule below
    for step in range(7):
        capacity = min(10.0, 10.0 * step / 4)  # 0, 2.5, 5, 7.5, 10, 10, 10
        assert int(model.train_step) == step
        lo = model.loss(x, out)
        assert float(lo.terms["capacity"]) == pytest.approx(capacity)
        assert float(lo.terms["kl"]) == pytest.approx(kl, rel=1e-5)
        assert lo.loss.item() == pytest.approx(recon + 7.0 * abs(kl - capacity), rel=1e-5)
    model.eval()
    lo = model.loss(x, out, reg_weight=0.25)  # the warm-up weight scales all of γ·|KL − C|
    assert lo.loss.item() == pytest.approx(recon + 0.25 * 7.0 * abs(kl - 10.0), rel=1e-5)
    assert int(model.train_step) == 7
    reg, _ = model.regularizer(out, torch.tensor(kl_loop(out)))
    assert torch.allclose(reg, torch.full((5,), 7.0 * abs(kl - 10.0)))  # the batch value, per image


def covariance_loop(out, aggregate):
    """Cov[μ(x)] over the batch (1/B), plus E[diag σ²(x)] for the aggregate posterior."""
    mus, lvs = out.mu.tolist(), out.logvar.tolist()
    b = len(mus)
    means = [sum(row[i] for row in mus) / b for i in range(LATENT)]
    cov = [[sum((row[i] - means[i]) * (row[j] - means[j]) for row in mus) / b for j in range(LATENT)]
           for i in range(LATENT)]
    if aggregate:
        for i in range(LATENT):
            cov[i][i] += sum(math.exp(row[i]) for row in lvs) / b
    return cov


@pytest.mark.parametrize("model_type,lambda_d,expected_lambda_d", [
    ("dip_vae_i", None, 30.0), ("dip_vae_ii", None, 3.0), ("dip_vae_i", 0.5, 0.5), ("dip_vae_ii", 7.0, 7.0)])
def test_dip_vae_matches_loop_oracle(model_type, lambda_d, expected_lambda_d):
    model = build_model(model_type, LATENT, lambda_od=3.0, lambda_d=lambda_d)
    assert model.config["lambda_d"] == expected_lambda_d
    out, x = fake_output(), images(5)
    cov = covariance_loop(out, aggregate=model_type == "dip_vae_ii")
    offdiag = sum(cov[i][j] ** 2 for i in range(LATENT) for j in range(LATENT) if i != j)
    diag = sum((cov[i][i] - 1.0) ** 2 for i in range(LATENT))
    assert offdiag > 0.1 and diag > 0.1
    penalty = 3.0 * offdiag + expected_lambda_d * diag
    kls = kl_loop(out)
    lo = model.loss(x, out)
    assert float(lo.terms["dip_offdiag"]) == pytest.approx(offdiag, rel=1e-5)
    assert float(lo.terms["dip_diag"]) == pytest.approx(diag, rel=1e-5)
    recon = float(model.recon_nll(x, out).mean())
    assert lo.loss.item() == pytest.approx(recon + mean(kls) + penalty, rel=1e-5)
    reg, _ = model.regularizer(out, torch.tensor(kls))
    assert torch.allclose(reg, torch.tensor(kls) + penalty)  # the batch penalty on every image
    lo = model.loss(x, out, reg_weight=0.5)
    assert lo.loss.item() == pytest.approx(recon + 0.5 * (mean(kls) + penalty), rel=1e-5)


def log_softmax_loop(logits):
    top = max(logits)
    norm = top + math.log(sum(math.exp(v - top) for v in logits))
    return [v - norm for v in logits]


def test_factor_vae_tc_estimate_matches_loop_oracle():
    torch.manual_seed(0)
    model = build_model("factor_vae", LATENT, gamma=20.0)
    out, x = fake_output(), images(5)
    tcs = []
    with torch.no_grad():
        for z in out.z:  # log D(z) − log(1 − D(z)), D(z) = softmax of the logits, class 0 = joint
            log_p = log_softmax_loop(model.discriminator(z[None])[0].tolist())
            tcs.append(log_p[0] - math.log(1.0 - math.exp(log_p[0])))
    lo = model.loss(x, out)
    assert float(lo.terms["tc"]) == pytest.approx(mean(tcs), rel=1e-4, abs=1e-6)
    recon, kl = float(model.recon_nll(x, out).mean()), mean(kl_loop(out))
    assert lo.loss.item() == pytest.approx(recon + kl + 20.0 * mean(tcs), rel=1e-5)
    lo = model.loss(x, out, reg_weight=0.5)  # the warm-up scales γ·TC as well as KL
    assert lo.loss.item() == pytest.approx(recon + 0.5 * (kl + 20.0 * mean(tcs)), rel=1e-5)


def test_factor_vae_discriminator_loss_matches_loop_oracle(monkeypatch):
    torch.manual_seed(0)
    model = build_model("factor_vae", LATENT)
    out, x2 = fake_output(batch=6), images(6, seed=1)
    seen, permute = {}, factor_vae.permute_dims

    def recording_permute(z):
        seen["codes"], seen["permuted"] = z, permute(z)
        return seen["permuted"]

    monkeypatch.setattr(factor_vae, "permute_dims", recording_permute)
    lo = model.auxiliary_loss(out, x2, noise_scale=0.0)
    codes, permuted = seen["codes"], seen["permuted"]
    assert torch.equal(codes, model.encode(x2)[0])  # noise_scale 0: the second batch's means
    assert not codes.requires_grad and not permuted.requires_grad
    for d in range(LATENT):  # every dimension permuted on its own across the batch
        assert torch.equal(permuted[:, d].sort().values, codes[:, d].sort().values)
    with torch.no_grad():
        joint = [log_softmax_loop(model.discriminator(z[None])[0].tolist()) for z in out.z]
        product = [log_softmax_loop(model.discriminator(z[None])[0].tolist()) for z in permuted]
    expected = 0.5 * mean([-lp[0] for lp in joint]) + 0.5 * mean([-lp[1] for lp in product])
    accuracy = 0.5 * mean([lp[0] > lp[1] for lp in joint]) + 0.5 * mean([lp[1] > lp[0] for lp in product])
    assert lo.loss.item() == pytest.approx(expected, rel=1e-5)
    assert float(lo.terms["disc_loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(lo.terms["disc_accuracy"]) == pytest.approx(accuracy)


# --- (b) one optimiser step, (c) save/load resumes exactly -------------------------------------


def make(model_type):
    torch.manual_seed(0)
    return build_model(model_type, LATENT, iteration_threshold=10, lambda_od=2.0)


def seeded_loss(model, x, seed):
    """The objective on ``x`` with the sampling noise fixed by ``seed``."""
    torch.manual_seed(seed)
    return model.loss(x, model(x))


def train_step(model, main_opt, aux_opt, x, x2, seed):
    """One trainer step in the documented order: main step, then the auxiliary step if any."""
    model.train()
    torch.manual_seed(seed)
    out = model(x)
    main_opt.zero_grad(set_to_none=True)
    model.loss(x, out).loss.backward()
    main_opt.step()
    if aux_opt is not None:
        aux_opt.zero_grad(set_to_none=True)
        model.auxiliary_loss(out, x2).loss.backward()
        aux_opt.step()


@pytest.mark.parametrize("model_type", ZOO)
def test_one_step_lowers_the_batch_loss(model_type):
    model, x = make(model_type), images()
    if model_type == "annealed_vae":
        model.train_step.fill_(10)  # past the threshold: the same C = C_max before and after the step
    opt = torch.optim.Adam(model.main_parameters(), lr=5e-4)
    model.eval()
    with torch.no_grad():
        before = seeded_loss(model, x, seed=1).loss
    main = {id(p) for p in model.main_parameters()}
    outside = [p for p in model.parameters() if id(p) not in main]  # the discriminator's, if any
    frozen = [p.detach().clone() for p in outside]
    model.train()
    opt.zero_grad()
    seeded_loss(model, x, seed=1).loss.backward()
    opt.step()
    model.eval()
    with torch.no_grad():
        after = seeded_loss(model, x, seed=1).loss
    assert after < before
    assert all(torch.equal(p, q) for p, q in zip(outside, frozen, strict=True))


def test_factor_vae_discriminator_step_lowers_its_loss():
    model, x, x2 = make("factor_vae"), images(), images(seed=1)
    aux = model.auxiliary_optimizer()
    with torch.no_grad():
        out = model(x)

    def disc_loss():
        torch.manual_seed(2)  # the same second-batch sample and permutation each time
        return model.auxiliary_loss(out, x2).loss

    before = disc_loss().detach()
    aux.zero_grad()
    disc_loss().backward()
    aux.step()
    assert disc_loss().detach() < before


def checkpoint_and_reload(model, main_opt, aux_opt, path):
    """What a trainer's checkpoint holds (model via save_model, both optimisers' state) and a
    fresh model and optimisers rebuilt from it."""
    save_model(model, str(path / "model.pt"))
    torch.save({"main": main_opt.state_dict(), "aux": aux_opt.state_dict() if aux_opt else None},
               path / "optim.pt")
    again = load_model(str(path / "model.pt"))
    states = torch.load(path / "optim.pt", weights_only=True)
    main_again = torch.optim.Adam(again.main_parameters(), lr=1e-4)
    main_again.load_state_dict(states["main"])
    aux_again = again.auxiliary_optimizer()
    assert (aux_again is None) == (aux_opt is None)
    if aux_again is not None:
        aux_again.load_state_dict(states["aux"])
    return again, main_again, aux_again


@pytest.mark.parametrize("model_type", ZOO)
def test_save_and_load_resume_the_same_training(model_type, tmp_path):
    model, x, x2 = make(model_type), images(6), images(6, seed=1)
    main_opt, aux_opt = torch.optim.Adam(model.main_parameters(), lr=1e-4), model.auxiliary_optimizer()
    for seed in range(3):
        train_step(model, main_opt, aux_opt, x, x2, seed)
    again, main_again, aux_again = checkpoint_and_reload(model, main_opt, aux_opt, tmp_path)
    for m in (model, again):
        m.eval()
    with torch.no_grad():
        assert torch.equal(seeded_loss(model, x, 5).loss, seeded_loss(again, x, 5).loss)
    if model_type == "annealed_vae":  # the step survives: C = C_max · 3 / 10, then keeps growing
        assert int(again.train_step) == 3
        assert float(seeded_loss(again, x, 5).terms["capacity"]) == pytest.approx(25.0 * 3 / 10)
    train_step(model, main_opt, aux_opt, x, x2, seed=7)
    train_step(again, main_again, aux_again, x, x2, seed=7)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    if model_type == "annealed_vae":
        assert int(again.train_step) == 4
        assert float(seeded_loss(again, x, 5).terms["capacity"]) == pytest.approx(25.0 * 4 / 10)


@pytest.mark.parametrize("model_type,kwargs,message", [
    ("annealed_vae", {"c_max": 0.0}, "c_max: must be > 0"),
    ("annealed_vae", {"gamma": -1.0}, "gamma: the weight of |KL − C| must be a finite number > 0"),
    ("annealed_vae", {"iteration_threshold": 0}, "iteration_threshold: .* integer >= 1"),
    ("annealed_vae", {"iteration_threshold": 2.5}, "iteration_threshold: .* integer >= 1"),
    ("dip_vae_i", {"lambda_od": -2.0}, "lambda_od: must be > 0"),
    ("dip_vae_ii", {"lambda_d": -1.0}, r"lambda_d: must be a finite number >= 0.*default 1·lambda_od"),
    ("factor_vae", {"gamma": float("nan")}, "gamma: must be a finite number"),
])
def test_bad_arguments_give_clear_errors(model_type, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_model(model_type, LATENT, **kwargs)
