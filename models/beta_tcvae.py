r"""β-TCVAE (Chen et al. 2018): the KL term decomposed and re-weighted.

    E_p(n)[KL(q(z|n) ‖ p(z))] = I_q(z; n)                         index-code MI
                              + KL(q(z) ‖ Π_d q(z_d))             total correlation (TC)
                              + Σ_d KL(q(z_d) ‖ p(z_d))           dimension-wise KL

loss = −E log p(x|z) + α·MI + β·TC + γ·dwKL, with α = γ = 1 by default. Per sample i of the batch,
MI_i = log q(z_i|n_i) − log q(z_i), TC_i = log q(z_i) − Σ_d log q(z_id),
dwKL_i = Σ_d log q(z_id) − Σ_d log p(z_id), where log q(z) and Σ_d log q(z_d) are the minibatch
estimates of :mod:`models.estimators` (MSS by default, dataset size N). MI + TC + dwKL is then
exactly the single-sample Monte-Carlo KL log q(z|n) − log p(z), so with α = β = γ = 1 the loss is
the VAE's up to estimator noise.
"""

from models.base import GaussianVAE
from models.estimators import ESTIMATORS, log_density_gaussian, minibatch_log_qz
from models.hyperparameters import HyperParameter
from models.precision import fp32_island
from models.registry import register


@register("beta_tcvae")
class BetaTCVAE(GaussianVAE):
    """β weights the total correlation only; MI and dim-wise KL keep weights α and γ."""

    hyperparameters = (HyperParameter(
        "beta", default=6.0, low=1.0, high=10.0, grid=(1.0, 2.0, 4.0, 6.0, 8.0, 10.0),
        symbol="β", description="weight of the total correlation", reference="Chen et al. 2018"),)

    def __init__(self, latent_dim: int, *, beta: float = 6.0, dataset_size: int | None = None,
                 tc_estimator: str = "mss", alpha: float = 1.0, gamma: float = 1.0, **kwargs):
        super().__init__(latent_dim, **kwargs)
        if dataset_size is None or int(dataset_size) < 2:
            raise ValueError("dataset_size: β-TCVAE needs the dataset size N (number of training "
                             f"images) for its minibatch estimator, got {dataset_size}")
        if tc_estimator not in ESTIMATORS:
            raise ValueError(f"tc_estimator: unknown estimator {tc_estimator!r}; choose one of {', '.join(ESTIMATORS)}")
        if not beta > 0:
            raise ValueError(f"beta: must be > 0, got {beta}")
        self.beta, self.alpha, self.gamma = float(beta), float(alpha), float(gamma)
        self.dataset_size = int(dataset_size)
        self.tc_estimator = tc_estimator
        self.config.update(beta=self.beta, alpha=self.alpha, gamma=self.gamma,
                           dataset_size=self.dataset_size, tc_estimator=tc_estimator)

    @fp32_island
    def decomposition(self, out):
        """Per-sample (MI, TC, dwKL), each shape (B,)."""
        log_qz_x = log_density_gaussian(out.z, out.mu, out.logvar).sum(1)
        log_pz = log_density_gaussian(out.z, out.z.new_zeros(()), out.z.new_zeros(())).sum(1)
        log_qz, log_prod_qzd = minibatch_log_qz(out.z, out.mu, out.logvar, self.dataset_size,
                                                self.tc_estimator)
        return log_qz_x - log_qz, log_qz - log_prod_qzd, log_prod_qzd - log_pz

    def regularizer(self, out, kl):
        mi, tc, dwkl = self.decomposition(out)
        reg = self.alpha * mi + self.beta * tc + self.gamma * dwkl
        return reg, {"mi": mi.mean(), "tc": tc.mean(), "dwkl": dwkl.mean()}
