"""Input checks and helpers shared by the metrics (no Ray, no MLflow, no torch needed)."""

from __future__ import annotations

import numpy as np


def check_codes(codes, what: str = "codes") -> np.ndarray:
    """Validate one (n_points, n_dims) code array: 2-D and finite; returned as float64."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"{what}: codes must be 2-D (n_points, n_dims); got shape {codes.shape}")
    if not np.isfinite(codes).all():
        raise ValueError(f"{what}: codes contain NaN or inf (a diverged model?); score only finite codes")
    return codes


def check_codes_factors(codes, factors, what: str = "codes") -> tuple[np.ndarray, np.ndarray]:
    """Validate (n_points, n_dims) arrays: same length, finite codes, integer factors."""
    codes = np.asarray(codes, dtype=np.float64)
    factors = np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2:
        raise ValueError(f"{what}: codes and factors must be 2-D (n_points, n_dims); got shapes "
                         f"{codes.shape} and {factors.shape}")
    if codes.shape[0] != factors.shape[0]:
        raise ValueError(f"{what}: codes have {codes.shape[0]} points but factors have "
                         f"{factors.shape[0]}; pass one factor row per code row")
    codes = check_codes(codes, what)
    if not np.issubdtype(factors.dtype, np.integer):
        if not np.all(np.equal(np.mod(factors, 1), 0)):
            raise ValueError(f"{what}: factors must be discrete integer labels")
        factors = factors.astype(np.int64)
    return codes, factors


def varying(factors: np.ndarray) -> np.ndarray:
    """Indices of factor columns that take more than one value (single-valued ones carry nothing)."""
    return np.array([k for k in range(factors.shape[1]) if np.unique(factors[:, k]).size > 1], dtype=int)


def varying_sizes(factor_sizes) -> np.ndarray:
    """Indices of factors with more than one value in a dataset's ``factor_sizes``."""
    idx = np.array([k for k, s in enumerate(factor_sizes) if s > 1], dtype=int)
    if idx.size == 0:
        raise ValueError("data: every factor has a single value; nothing to disentangle")
    return idx


def integers(rng, high: int, size) -> np.ndarray:
    """Uniform integers in [0, high) from a numpy Generator or RandomState."""
    if isinstance(rng, np.random.Generator):
        return rng.integers(0, high, size=size)
    if isinstance(rng, np.random.RandomState):
        return rng.randint(0, high, size=size)
    raise TypeError(f"rng: expected numpy.random.Generator or RandomState, got {type(rng).__name__}")


def seed_from(rng) -> int:
    """A seed for scikit-learn estimators drawn from ``rng`` (keeps everything on one stream)."""
    return int(integers(rng, 2**31 - 1, None))


def represent_in_chunks(data, represent, factors: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Codes of the observations of ``factors``, rendered and encoded ``chunk`` at a time."""
    out = []
    for start in range(0, len(factors), chunk):
        out.append(np.asarray(represent(data.observations(factors[start:start + chunk]))))
    codes = np.concatenate(out, axis=0).astype(np.float64)
    if not np.isfinite(codes).all():
        raise ValueError("represent: the representation returned NaN or inf; score only finite codes")
    return codes
