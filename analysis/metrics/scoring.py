"""``score_model``: everything a trial reports about a trained model, as one flat dict.

Every score but reconstruction and blur comes from a scorer of the catalogue
(:data:`analysis.catalogue.SCORERS`, run by :mod:`analysis.metrics.registry`), which also holds each
scorer's sample sizes per preset. A preset fixes what is preset-wide: where codes come from
(:mod:`analysis.metrics.codes`), the evaluation images, bootstrap resamples, how the encoder runs:

* ``full`` — the literature's sample sizes (BetaVAE 10,000/5,000 points, FactorVAE 10,000/5,000,
  MIG 10,000, DCI 10,000/5,000, SAP 10,000/5,000), read from the *whole factor grid encoded once*
  (737,280 images for dSprites instead of the 2.9 M a live evaluation renders; exact, since the
  encoder mean is deterministic). Meant for GPUs; about five minutes of encoding on a 2-core CPU.
* ``fast`` — for CPU studies: a pool of 16,384 grid points encoded once, every metric's draws
  resampled from it; 1,000 evaluation points for BetaVAE and FactorVAE (binomial SE ≤ 0.016),
  MIG on 10,000 distinct pooled points, SAP on 1,000/1,000. DCI is left out: its per-factor gradient boosting alone
  takes ~20 s even on 500 points (benchmarks/README.md).
* ``recon`` — reconstruction and blur only.

Every stochastic score comes with its standard error as ``<metric>_se``
(:mod:`analysis.metrics.uncertainty`). The preset is part of the returned record
(``metric_preset``, and ``metric_codes`` = pool/grid/live) so a score is never compared with one
computed at another size by accident.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import torch

from analysis.catalogue import ESTIMATE_PRESET, SCORERS
from analysis.metrics import registry
from analysis.metrics._common import seed_from
from analysis.metrics.codes import GridCodes, LiveCodes, PoolCodes, grid_size
from analysis.metrics.reconstruction import reconstruction_scores
from analysis.schema import Tag
from models.modes import evaluating


@dataclass(frozen=True)
class MetricPreset:
    """What is preset-wide in scoring; each scorer's sample sizes are its catalogue entry's
    (:data:`analysis.catalogue.SCORERS`) for preset ``name``, unless ``sizes`` gives them.

    ``codes`` says where the factor metrics read codes from (:mod:`analysis.metrics.codes`):
    ``pool`` — ``pool_size`` grid points encoded once, every metric's draws resampled from them;
    ``grid`` — every grid point encoded once (exact; used when the grid has at most
    ``grid_limit`` points, else a pool of ``pool_size``); ``live`` — render and encode every draw.
    ``encoding`` and ``encode_batch``: how the encoder runs (:func:`make_represent`).
    """

    name: str
    eval_size: int
    batch_size: int = 64
    codes: str = "live"
    pool_size: int = 0
    grid_limit: int = 2_000_000
    bootstrap: int = 100
    encoding: str = "fp32"
    encode_batch: int = 1024
    sizes: Mapping[str, Mapping[str, int]] | None = None
    """Scorer module → its keyword sample sizes (only those listed run); None: the catalogue's."""

    @property
    def scorer_sizes(self) -> dict[str, Mapping[str, int]]:
        """Scorer module → sample sizes, for every scorer this preset runs."""
        if self.sizes is not None:
            return dict(self.sizes)
        return {s.module: s.sizes[self.name] for s in SCORERS if self.name in s.sizes}

    def size(self, scorer: str, key: str) -> int:
        """One sample size (``size("dci", "num_train")``); 0 when the preset does not run ``scorer``."""
        return int(self.scorer_sizes.get(scorer, {}).get(key, 0))

    def capped(self, limit: int, **changes) -> MetricPreset:
        """The same scorers with every sample size at most ``limit`` (tests, quick looks)."""
        sizes = {m: {k: min(v, limit) for k, v in s.items()} for m, s in self.scorer_sizes.items()}
        return replace(self, sizes=sizes, **changes)

    def __getattr__(self, name: str) -> int:
        """``<scorer>_<size>`` reads a sample size by its flat name (``dci_train`` is
        ``size("dci", "num_train")``, 0 if not run), as the benchmarks name them."""
        for s in SCORERS:
            key = "num_" + name.removeprefix(f"{s.module}_")
            if name.startswith(f"{s.module}_") and any(key in sizes for sizes in s.sizes.values()):
                return self.size(s.module, key)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def disentanglement(self) -> bool:
        """Runs any scorer of the codes (factor metrics or the probe)."""
        return bool(self.scorer_sizes)


PRESETS = {
    "full": MetricPreset("full", eval_size=10000, codes="grid", pool_size=100_000, encoding="fp32-cl",
                         encode_batch=4096),
    "fast": MetricPreset("fast", eval_size=1024, codes="pool", pool_size=16384),
    "recon": MetricPreset("recon", eval_size=1024),
    # A cheap estimate of every fast-preset score for early stopping at a rung (MO-ASHA): small
    # samples from a small pool, few bootstrap resamples. Not a trial's final scores.
    ESTIMATE_PRESET: MetricPreset(ESTIMATE_PRESET, eval_size=256, codes="pool", pool_size=2048, bootstrap=20),
}

#: How ``make_represent`` runs the encoder: the model as it is; channels_last (the same products
#: summed in another order: codes within ~1e-6); bf16 autocast + channels_last (codes within ~1e-2).
ENCODINGS = ("fp32", "fp32-cl", "bf16-cl")


def make_represent(model, batch_size: int = 1024, encoding: str = "fp32"):
    """``represent(observations) -> np.ndarray``: the encoder mean, in batches, on the model's
    device, run as ``encoding`` says (:data:`ENCODINGS`; the model itself is left as it is)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding: {encoding!r} is not one of {', '.join(ENCODINGS)}")
    device = next(model.parameters()).device
    channels_last = encoding != "fp32"
    if channels_last:
        model = copy.deepcopy(model).to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def represent(observations: torch.Tensor) -> np.ndarray:
        out = []
        for start in range(0, len(observations), batch_size):
            x = observations[start:start + batch_size].to(device)
            if channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=encoding.startswith("bf16")):
                mu, _ = model.encode(x)
            out.append(mu.float().cpu().numpy())
        return np.concatenate(out)

    return represent


def score_model(model, data, rng, which: str = "fast", eval_images: torch.Tensor | None = None,
                eval_labels=None, n_jobs: int | None = None) -> dict:
    """Score a trained model: reconstruction, blur and (with factors) the disentanglement suite.

    Returns the catalogue's names: the reconstruction scores of
    :func:`analysis.metrics.reconstruction.reconstruction_scores`; the scores of every scorer the
    preset runs (:data:`analysis.catalogue.SCORERS`) that reads what the data has (factors, or
    labels) — each stochastic one with ``<name>_se`` — and, with factors, metric_codes; always
    metric_preset.

    ``n_jobs``: independent fits run at once (DCI's per-factor trees); default the torch thread
    count, i.e. the trial's CPU budget. The scores do not depend on it.
    """
    if which not in PRESETS:
        raise ValueError(f"metrics: unknown preset {which!r}; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[which]
    if eval_images is None:
        eval_images, eval_labels = data.eval_set(preset.eval_size, seed=0)
    with evaluating(model):
        gen = torch.Generator(device=next(model.parameters()).device)
        gen.manual_seed(seed_from(rng))
        scores: dict = reconstruction_scores(model, eval_images, generator=gen)
        scores[Tag.METRIC_PRESET] = preset.name
        if not preset.disentanglement:
            return scores
        represent = make_represent(model, preset.encode_batch, preset.encoding)
        if getattr(data, "has_factors", False):
            n_jobs = torch.get_num_threads() if n_jobs is None else n_jobs
            scores.update(_factor_metrics(data, represent, rng, preset, n_jobs))
        elif eval_labels is not None:
            scores.update(_label_metrics(data, represent, rng, preset))
        return scores


def code_source(data, represent, rng, p: MetricPreset):
    """The preset's code source for ``data``: pool, whole grid, or live rendering."""
    if p.codes == "grid" and grid_size(data) <= p.grid_limit:
        return GridCodes(data, represent)
    if p.codes in ("grid", "pool"):
        return PoolCodes(data, represent, p.pool_size, rng)
    return LiveCodes(data, represent)


def _split(codes, num_train: int, num_test: int, rng):
    """Train and test points from one draw (:meth:`analysis.metrics.registry.Context.split`)."""
    return registry.Context(rng, codes).split(num_train, num_test)


def _factor_metrics(data, represent, rng, p: MetricPreset, n_jobs: int = 1) -> dict:
    """The scorers of a dataset with factors, in catalogue order on one stream, on the preset's
    code source. DCI's fits (the slow part) start in ``n_jobs`` workers and the later scorers run
    meanwhile (:mod:`analysis.metrics.registry`); the scores are those of a serial run."""
    codes = code_source(data, represent, rng, p)
    ctx = registry.Context(rng, codes, data, represent, p.bootstrap, p.batch_size, n_jobs)
    return {Tag.METRIC_CODES: codes.kind, **registry.run(registry.plan(p.scorer_sizes, "factors"), ctx)}


def _label_metrics(data, represent, rng, p: MetricPreset) -> dict:
    """The scorers of a dataset without factors (a linear probe of its labels)."""
    ctx = registry.Context(rng, None, data, represent, p.bootstrap, p.batch_size)
    return registry.run(registry.plan(p.scorer_sizes, "labels"), ctx)
