r"""Closed-form Gaussian KL and the minibatch estimators of log q(z) used by β-TCVAE.

Notation (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs"): a dataset of N
points, the aggregate posterior q(z) = (1/N) Σ_n q(z|n), a minibatch {n_1..n_M} drawn uniformly
without replacement, and z_i ~ q(z|n_i). The objective needs E_q(z)[log q(z)] and
E_q(z)[Σ_d log q(z_d)], which are estimated from the minibatch as

    log q(z_i)   ≈ logsumexp_j [ Σ_d log q(z_id | n_j) + log w_ij ]
    log q(z_id)  ≈ logsumexp_j [       log q(z_id | n_j) + log w_ij ]      (then summed over d)

with the importance weight w_ij entering **once per pair (i, j)** in both (never once per
dimension in the joint term) and every normalising constant kept.

Weights (derivation). Fix i. The batch holds n_i itself and M − 1 other points, a uniform
sample without replacement from the N − 1 points that are not n_i, so each of them has expectation
E[q(z|n_j)] = Q̄ := (1/(N−1)) Σ_{n≠n_i} q(z|n), while q(z) = (1/N) q(z|n_i) + ((N−1)/N) Q̄.

* MWS, minibatch-weighted sampling (§C.1): w_ij = 1/(N·M) for every pair, as the paper writes
  it (log q(z_i) ≈ logsumexp_j log q(z_i|n_j) − log(NM)). Its expectation is
  (1/(NM)) q(z_i|n_i) + ((M−1)/(NM)) Q̄, while q(z_i) = (1/N) q(z_i|n_i) + ((N−1)/N) Q̄: the
  own-posterior term is down-weighted by 1/M, the others by about 1/N, so the bias is **not** a
  constant. Two limits bound it:

  - sharp, non-overlapping posteriors (q(z_i|n_j) ≈ 0 for j ≠ i): the estimate is
    log q(z_i|n_i) − log(NM) while log q(z_i) ≈ log q(z_i|n_i) − log N, a bias of **−log M**;
  - heavily overlapping posteriors (every q(z|n) ≈ q(z)): the logsumexp is log M + log q(z_i),
    so the estimate is log q(z_i) − log N, a bias of **−log N**.

  In between, the bias ranges from −log M to about −log N and depends on how much the posteriors
  overlap, i.e. on the encoder's parameters. It is never above −log M (the estimate is
  logsumexp over the batch's M terms minus log(NM), the batch's terms are a subset of the
  dataset's N, so estimate ≤ log q(z_i) − log M for every sample). The same holds per dimension
  for Σ_d log q(z_d): between −D·log M and about −D·log N. So MWS shifts the logged MI/TC/
  dim-wise-KL values by an amount that drifts during training, and the shift is not constant in
  the parameters, so it reaches the gradients too; prefer MSS, which is exact in both limits.
* MSS, minibatch-stratified sampling (§C.2): the point's own posterior gets its exact share,
  w_ii = 1/N; the remaining mass (N−1)/N is carried by the M − 1 others, whose expectations are
  all Q̄, so any split of (N−1)/N among them is unbiased for q(z). The paper's split gives one
  designated other point (N−M+1)/(N(M−1)) and the remaining M − 2 points 1/(M−1) each; read with
  M = batch size its printed row, 1/N + (M−2)/M + (N−M+1)/(NM), sums to (NM−N+1)/(NM) ≠ 1, i.e.
  the normalisation is off by the batch-size convention. We use the normalised form
      w_ii = 1/N,   w_i,next(i) = (N−M+1)/(N(M−1)),   w_ij = 1/(M−1) otherwise,
  whose row sums to 1/N + (N−M+1)/(N(M−1)) + (M−2)/(M−1) = 1, so E[Σ_j w_ij q(z_i|n_j)] = q(z_i)
  exactly (the tests check this numerically). The log of an unbiased estimate is still biased
  low (Jensen), but far less than MWS.
"""

from __future__ import annotations

import math

import torch

from models.precision import fp32_island

LOG_2PI = math.log(2.0 * math.pi)
ESTIMATORS = ("mss", "mws")


@fp32_island
def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) per dimension, closed form: ½(μ² + σ² − log σ² − 1). Shape of μ."""
    return 0.5 * (mu.square() + logvar.exp() - logvar - 1.0)


@fp32_island
def log_density_gaussian(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(z; μ, σ²) (broadcasting), i.e. −½(log 2π + log σ² + (z−μ)²/σ²)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).square() * torch.exp(-logvar))


def log_importance_weights(batch_size: int, dataset_size: int, method: str = "mss",
                           device=None, dtype=torch.float32) -> torch.Tensor:
    """The (M, M) matrix of log w_ij for ``method`` "mss" or "mws" (derivation in the module doc)."""
    m, n = int(batch_size), int(dataset_size)
    if method not in ESTIMATORS:
        raise ValueError(f"tc_estimator: unknown estimator {method!r}; choose one of {', '.join(ESTIMATORS)}")
    if m < 2:
        raise ValueError(f"batch_size: the minibatch estimators need at least 2 samples, got {m}")
    if n < m:
        raise ValueError(f"dataset_size: N={n} is smaller than the batch size {m}; pass the dataset size")
    if method == "mws":
        return torch.full((m, m), -math.log(n * m), device=device, dtype=dtype)
    w = torch.full((m, m), 1.0 / (m - 1), device=device, dtype=torch.float64)
    idx = torch.arange(m, device=device)
    w[idx, (idx + 1) % m] = (n - m + 1) / (n * (m - 1))
    w[idx, idx] = 1.0 / n
    return w.log().to(dtype)


@fp32_island
def minibatch_log_qz(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int,
                     method: str = "mss") -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch estimates of log q(z_i) and Σ_d log q(z_id) for each sample i, shapes (M,), (M,).

    ``z``, ``mu``, ``logvar`` are (M, D): z_i is a sample of q(z | n_i) with parameters row i.
    """
    m = z.shape[0]
    log_w = log_importance_weights(m, dataset_size, method, device=z.device, dtype=z.dtype)
    # mat[i, j, d] = log q(z_id | n_j)
    mat = log_density_gaussian(z.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0))
    log_qz = torch.logsumexp(mat.sum(2) + log_w, dim=1)
    log_prod_qzd = torch.logsumexp(mat + log_w.unsqueeze(2), dim=1).sum(1)
    return log_qz, log_prod_qzd
