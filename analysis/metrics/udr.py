"""UDR, Unsupervised Disentanglement Ranking (Duan et al. 2020): model selection without factors.

Models of one configuration trained from different seeds should, if they disentangle, agree on
their latent dimensions up to permutation, sign and scale; entangled models each find a different
rotation. UDR scores that agreement from the codes of several models on the *same* inputs.

For models i and j with codes (n, d_i) and (n, d_j), R[a, b] ≥ 0 is the similarity of latent a of
model i and latent b of model j: the absolute Spearman rank correlation (``method="spearman"``), or
the absolute coefficient of a ``Lasso(alpha=0.1)`` regression of model j's standardised latents on
model i's (``method="lasso"``). Only informative latents are kept: those whose mean KL divergence
to the prior exceeds ``kl_threshold`` = 0.01 (the paper's I_KL), all of them when no KLs are given.
With d_a and d_b the informative dims of the two models, the paper's score is

    UDR_ij = 1 / (d_a + d_b) · [ Σ_b max_a R(a, b)² / Σ_a R(a, b) + Σ_a max_b R(a, b)² / Σ_b R(a, b) ],

1 when R is a permutation matrix (every informative latent of one model matches exactly one of the
other, with similarity 1), lower when a latent spreads over several or matches only weakly. A row or
column summing to 0 contributes 0 (the reference's ``nan_to_num``); no informative latents at all
give 0. The score of model i is the median of UDR_ji over the other models j (the reference's
``np.median(np.delete(scores[:, i], i))``; Spearman is symmetric, Lasso is not).

Range 0..1 with Spearman (Lasso weights can exceed 1 for correlated latents). Known biases: even
independent latents have sample correlations |ρ| ≈ 0.8/√n, which enter the row and column sums, so a
perfect agreement of d informative latents scores about 1 / (1 + (d − 1)·0.8/√n) with Spearman (0.95
for d = 3, n = 1,000; 0.82 for d = 10) — compare scores computed on the same number of inputs. The
Lasso shrinks an exact match to 1 − alpha = 0.9, which max²/sum passes on, so a perfect Lasso score
is 0.9; the Lasso zeroes the small spurious weights.

Choices, against disentanglement_lib's ``compute_udr_sklearn``: its function defaults to Lasso
(its test configs use both); Spearman is the default here, as the method that needs no
regularisation constant. It averages the row mean and the column mean of max²/sum; the paper's
weighting by d_a and d_b used here is the same when d_a = d_b and differs otherwise. A constant
latent (no rank variation; correlation undefined, NaN in the reference) has similarity 0 here.
There is no standard error: the spread that matters for UDR is over seeds, which the median over
pairs already summarises; a bootstrap over inputs would not capture it.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso

from analysis.metrics._common import check_codes

METHODS = ("spearman", "lasso")


def _standardise(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit std per column; a constant column becomes 0."""
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)


def spearman_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|Spearman ρ| between every column of ``a`` and of ``b`` (average ranks for ties): the
    Pearson correlation of the ranks, 0 where a column is constant."""
    ra = _standardise(scipy.stats.rankdata(a, axis=0))
    rb = _standardise(scipy.stats.rankdata(b, axis=0))
    return np.abs(ra.T @ rb) / len(a)


def lasso_matrix(a: np.ndarray, b: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    """R[a, b] = |coefficient of latent a| in the Lasso regression of standardised latent b on all the
    standardised latents of ``a`` (one independent Lasso per target, as scikit-learn fits a 2-D y)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = Lasso(alpha=alpha).fit(_standardise(a), _standardise(b))
    return np.abs(np.atleast_2d(model.coef_)).T


def similarity(a: np.ndarray, b: np.ndarray, method: str = "spearman") -> np.ndarray:
    """R (d_a, d_b): similarity of every latent of ``a`` with every latent of ``b``."""
    if method == "spearman":
        return spearman_matrix(a, b)
    if method == "lasso":
        return lasso_matrix(a, b)
    raise ValueError(f"method: unknown {method!r}; choose one of {', '.join(METHODS)}")


def udr_from_similarity(r: np.ndarray) -> float:
    """UDR_ij of an informative-only similarity matrix R (d_a, d_b) (the formula in the module doc)."""
    d_a, d_b = r.shape
    if d_a + d_b == 0 or r.size == 0:
        return 0.0
    col_sum, row_sum = r.sum(axis=0), r.sum(axis=1)
    cols = np.divide(r.max(axis=0) ** 2, col_sum, out=np.zeros(d_b), where=col_sum > 0)
    rows = np.divide(r.max(axis=1) ** 2, row_sum, out=np.zeros(d_a), where=row_sum > 0)
    return float((cols.sum() + rows.sum()) / (d_a + d_b))


def _informative(codes: np.ndarray, kl, threshold: float, what: str) -> np.ndarray:
    """Columns of ``codes`` whose KL exceeds ``threshold`` (all when ``kl`` is None)."""
    if kl is None:
        return codes
    kl = np.asarray(kl, dtype=np.float64).reshape(-1)
    if kl.shape[0] != codes.shape[1]:
        raise ValueError(f"{what}: {kl.shape[0]} KL values for {codes.shape[1]} latent dims; "
                         f"pass the mean KL of every latent dim")
    return codes[:, kl > threshold]


def udr_pair(codes_a, codes_b, kl_a=None, kl_b=None, method: str = "spearman",
             kl_threshold: float = 0.01) -> float:
    """UDR_ab of two models' codes (n, d_a) and (n, d_b) on the same n inputs."""
    a, b = check_codes(codes_a, "udr (model a)"), check_codes(codes_b, "udr (model b)")
    if len(a) != len(b):
        raise ValueError(f"udr: the models have codes for {len(a)} and {len(b)} inputs; "
                         f"encode the same inputs with every model")
    a = _informative(a, kl_a, kl_threshold, "udr (model a)")
    b = _informative(b, kl_b, kl_threshold, "udr (model b)")
    if a.shape[1] == 0 or b.shape[1] == 0:
        return 0.0
    return udr_from_similarity(similarity(a, b, method))


def udr_pairwise(codes: list[np.ndarray], kl_per_dim: list[np.ndarray] | None = None, method: str = "spearman",
                 kl_threshold: float = 0.01) -> np.ndarray:
    """(M, M) matrix of UDR_ij for every ordered pair of the M models (NaN on the diagonal)."""
    if len(codes) < 2:
        raise ValueError(f"udr: needs the codes of at least 2 models (seeds), got {len(codes)}")
    if kl_per_dim is not None and len(kl_per_dim) != len(codes):
        raise ValueError(f"udr: {len(kl_per_dim)} KL vectors for {len(codes)} models")
    kls = kl_per_dim if kl_per_dim is not None else [None] * len(codes)
    m = len(codes)
    out = np.full((m, m), np.nan)
    for i in range(m):
        for j in range(m):
            if i == j or (method == "spearman" and j < i):
                continue
            out[i, j] = udr_pair(codes[i], codes[j], kls[i], kls[j], method, kl_threshold)
            if method == "spearman":
                out[j, i] = out[i, j]
    return out


def udr_scores(codes: list[np.ndarray], kl_per_dim: list[np.ndarray] | None = None, method: str = "spearman",
               kl_threshold: float = 0.01) -> np.ndarray:
    """One UDR score per model: the median over the other models j of UDR_ji.

    ``codes[i]`` is model i's (n, d_i) code (encoder means) of the same n inputs, ``kl_per_dim[i]``
    its mean KL per latent dim (or None: every latent counts as informative).
    """
    pairwise = udr_pairwise(codes, kl_per_dim, method, kl_threshold)
    return np.array([np.median(np.delete(pairwise[:, i], i)) for i in range(len(codes))])
