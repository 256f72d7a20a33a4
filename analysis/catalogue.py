"""The metric catalogue: every metric a trial produces, and for the scored ones the scorer that
computes them (its module and its sample sizes per preset) — the one declaration of a metric.

Adding a metric to ``score_model`` is: a module ``analysis/metrics/<name>.py`` with a function
``score(ctx, **sizes) -> dict`` returning catalogue names; a :class:`Scorer` entry here with its
:class:`Metric` entries; a test. Scorers run in the order of :data:`SCORERS` on one RNG stream, so a
new one goes at the end (the earlier scores stay what they were). docs/architecture.md's metric
table is rendered from here (``python -m analysis.catalogue --metrics-table``). Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

#: Metric presets (the valid values of ``trial.metrics``): fast, full, recon, and estimate (the fast
#: preset's scores on small samples: what a trial reports at early-stopping rungs).
ESTIMATE_PRESET = "estimate"
METRIC_PRESETS: tuple[str, ...] = ("fast", "full", "recon", ESTIMATE_PRESET)


class Source(StrEnum):
    """Which code produces a metric."""

    SCORES = "score_model"
    """``analysis.metrics.score_model`` on the trained model (reconstruction, blur, disentanglement)."""
    TERMS = "objective_terms"
    """``train.evaluation.evaluate_objective_terms``: the objective and its terms on held-out images."""
    TRAINING = "training"
    """Reported while training, at every report (usable by ASHA)."""
    STUDY = "study_level"
    """Computed by the analysis across a study's trials and written back to each child run
    (``python -m analysis udr``): an axis for the report, not a search objective."""


@dataclass(frozen=True)
class Metric:
    """One metric a trial produces."""

    name: str
    direction: str | None
    """"min" or "max" (the better side); None for a count or a property of the data."""
    label: str
    """Axis label, with the unit."""
    unit: str
    source: Source
    presets: tuple[str, ...] = METRIC_PRESETS
    """Metric presets that compute it (for a scored metric: its scorer's presets)."""
    has_se: bool = False
    """A standard error is logged as ``<name>_se``."""
    needs_factors: bool = False
    """Only computed for datasets with ground-truth factors."""
    without_factors: bool = False
    """Only computed for datasets without ground-truth factors (a linear probe of the labels)."""
    needs_probabilistic: bool = False
    """Needs a probabilistic encoder q(z|x) (a KL term): never computed for the AE."""
    model_types: tuple[str, ...] = ()
    """Only these model types produce it (empty: every type the other needs allow)."""
    objective: bool = True
    """A study may optimise it (search.objectives, search.asha_metric); else a diagnostic."""
    scorer: str | None = None
    """The :class:`Scorer` (module of ``analysis.metrics``) that computes it; None: not a scorer's."""

    @property
    def intermediate(self) -> bool:
        """Reported during training, so an early-stopping scheduler can compare it."""
        return self.source == Source.TRAINING


@dataclass(frozen=True)
class Scorer:
    """What ``score_model`` needs to compute a group of metrics: ``analysis.metrics.<module>.score``.

    ``sizes``: preset → the keyword sample sizes ``score`` takes; the presets listed run it.
    ``reads``: ``factors`` — the preset's code source of a dataset with ground-truth factors
    (``ctx.codes``); ``labels`` — a dataset without factors, its labelled evaluation images.
    ``supervised``: reads the factor values (False: only the codes, e.g. their total correlation).
    """

    module: str
    sizes: Mapping[str, Mapping[str, int]]
    metrics: tuple[Metric, ...] = field(default=())
    reads: str = "factors"
    supervised: bool = True

    def __post_init__(self):
        if self.reads not in ("factors", "labels") or not set(self.sizes) <= set(METRIC_PRESETS):
            raise ValueError(f"scorer {self.module}: reads factors or labels, sizes per preset of {METRIC_PRESETS}")
        entries = tuple(replace(m, source=Source.SCORES, presets=tuple(self.sizes), scorer=self.module,
                                needs_factors=self.reads == "factors", without_factors=self.reads == "labels")
                        for m in self.metrics)
        object.__setattr__(self, "metrics", entries)


def _sizes(full: dict, fast: dict | None = None, estimate: dict | None = None) -> dict:
    """Sample sizes per preset, in the catalogue's preset order (fast, full, estimate)."""
    out = {"fast": fast, "full": full, ESTIMATE_PRESET: estimate}
    return {k: v for k, v in out.items() if v is not None}


def _m(name: str, direction: str | None, label: str, unit: str, **kw) -> Metric:
    """A scored metric (its scorer fills in source, presets and what it needs)."""
    return Metric(name, direction, label, unit, Source.SCORES, **kw)


_UNSUPERVISED = (dict(num_points=10000), dict(num_points=10000), dict(num_points=2048))

#: The scorers, in the order ``score_model`` runs them on one RNG stream (new ones go last).
SCORERS: tuple[Scorer, ...] = (
    Scorer("beta_vae", _sizes(dict(num_train=10000, num_eval=5000), dict(num_train=1000, num_eval=1000),
                              dict(num_train=300, num_eval=300)), (
        _m("beta_vae_score", "max", "BetaVAE score", "accuracy", has_se=True),
        _m("beta_vae_train_accuracy", "max", "BetaVAE classifier train accuracy", "accuracy", objective=False))),
    Scorer("factor_vae", _sizes(dict(num_train=10000, num_eval=5000, num_variance=10000),
                                dict(num_train=1000, num_eval=1000, num_variance=5000),
                                dict(num_train=300, num_eval=300, num_variance=2000)), (
        _m("factor_vae_score", "max", "FactorVAE score", "accuracy", has_se=True),
        _m("factor_vae_active_dims", None, "FactorVAE active dims", "dims", objective=False))),
    Scorer("mig", _sizes(dict(num_points=10000), dict(num_points=10000), dict(num_points=2048)), (
        _m("mig", "max", "MIG", "fraction of H(factor)", has_se=True),)),
    Scorer("dci", _sizes(dict(num_train=10000, num_test=5000)), (
        _m("dci_disentanglement", "max", "DCI disentanglement", ""),
        _m("dci_completeness", "max", "DCI completeness", ""),
        _m("dci_informativeness", "max", "DCI informativeness (test accuracy)", "accuracy", has_se=True),
        _m("dci_informativeness_train", "max", "DCI informativeness (train accuracy)", "accuracy",
           objective=False))),
    Scorer("sap", _sizes(dict(num_train=10000, num_test=5000), dict(num_train=1000, num_test=1000),
                         dict(num_train=300, num_test=300)), (
        _m("sap", "max", "SAP", "accuracy gap", has_se=True),)),
    Scorer("modularity", _sizes(dict(num_train=10000, num_test=5000), dict(num_train=2000, num_test=1000),
                                dict(num_train=500, num_test=300)), (
        _m("modularity", "max", "modularity (Ridgeway & Mozer 2018)", "", has_se=True),
        _m("explicitness", "max", "explicitness (test ROC-AUC, Ridgeway & Mozer 2018)", "ROC-AUC", has_se=True),
        _m("explicitness_train", "max", "explicitness (train ROC-AUC)", "ROC-AUC", objective=False))),
    Scorer("irs", _sizes(dict(num_points=10000), dict(num_points=5000), dict(num_points=1000)), (
        _m("irs", "max", "IRS, interventional robustness (Suter et al. 2019)", "", has_se=True),
        _m("irs_active_dims", None, "IRS active dims", "dims", objective=False))),
    Scorer("probe", _sizes(dict(num_points=10000), dict(num_points=2000), dict(num_points=512)), (
        _m("linear_probe_accuracy", "max", "linear-probe accuracy (balanced)", "accuracy", has_se=True),),
        reads="labels"),
    # disentanglement_lib's unsupervised scores, on the encoder means of 10,000 points
    Scorer("total_correlation", _sizes(*_UNSUPERVISED), (
        _m("gaussian_total_correlation", "min", "Gaussian total correlation of the codes (nats)", "nats"),),
        supervised=False),
    Scorer("wasserstein_correlation", _sizes(*_UNSUPERVISED), (
        _m("gaussian_wasserstein_correlation", "min", "Gaussian Wasserstein correlation of the codes",
           "code variance", objective=False),
        _m("gaussian_wasserstein_correlation_norm", "min",
           "Gaussian Wasserstein correlation / total code variance", "fraction")), supervised=False),
    Scorer("code_mutual_info", _sizes(*_UNSUPERVISED), (
        _m("mutual_info_score", "min", "mean MI between code dims (nats, 20 bins)", "nats"),), supervised=False),
)

_S, _T = Source.SCORES, Source.TERMS
_TCVAE = ("beta_tcvae",)
_DIP = ("dip_vae_i", "dip_vae_ii")
_NATS = "nats/image"

#: The catalogue, in the order configs and error messages list metrics.
CATALOGUE: tuple[Metric, ...] = (
    Metric("recon_error", "min", "reconstruction error (nats/image)", _NATS, _S, has_se=True),
    Metric("recon_error_sampled", "min", "reconstruction error, one posterior sample (nats/image)", _NATS, _S),
    Metric("recon_mse", "min", "reconstruction MSE (per pixel)", "per pixel", _S),
    Metric("blur", "min", "blur (px, equivalent Gaussian σ of lost detail)", "px", _S, has_se=True),
    Metric("shape_error", "min", "shape error (variance unexplained once blur is matched)", "fraction", _S,
           has_se=True),
    Metric("output_variation", None, "reconstructions' variance across images / the data's", "fraction", _S,
           objective=False),
    Metric("collapsed", None, "collapsed: outputs do not depend on the input (1) or do (0)", "flag", _S,
           objective=False),
    Metric("blur_samples", "min", "blur of prior samples (px, against the data's mean spectrum)", "px", _S,
           has_se=True),
    Metric("data_sharpness", None, "the data's own level of blur_samples (px)", "px", _S, objective=False),
    Metric("sample_distance", "min", "prior samples' distance to their nearest data image (RMS per pixel)",
           "per pixel", _S, has_se=True),
    Metric("data_distance", None, "the data's own level of sample_distance (nearest other image)", "per pixel", _S,
           objective=False),
    *(m for s in SCORERS for m in s.metrics),
    Metric("eval_loss", "min", "held-out objective (nats/image)", _NATS, _T),
    Metric("eval_recon", "min", "held-out reconstruction term (nats/image)", _NATS, _T, objective=False),
    Metric("eval_kl", "max", "held-out KL(q(z|x) ‖ p(z)) (nats/image)", _NATS, _T, needs_probabilistic=True),
    Metric("eval_mi", "max", "held-out index-code MI (nats/image)", _NATS, _T, needs_probabilistic=True,
           model_types=_TCVAE, objective=False),
    Metric("eval_tc", "min", "held-out total correlation (nats/image; minibatch estimate for β-TCVAE, "
           "discriminator estimate for FactorVAE)", _NATS, _T, needs_probabilistic=True,
           model_types=(*_TCVAE, "factor_vae"), objective=False),
    Metric("eval_dwkl", "min", "held-out dimension-wise KL (nats/image)", _NATS, _T, needs_probabilistic=True,
           model_types=_TCVAE, objective=False),
    Metric("eval_capacity", None, "AnnealedVAE's KL capacity C at the end of training (nats/image)", _NATS, _T,
           needs_probabilistic=True, model_types=("annealed_vae",), objective=False),
    Metric("eval_dip_offdiag", "min", "held-out DIP-VAE penalty: Σ of squared off-diagonal covariances", "",
           _T, needs_probabilistic=True, model_types=_DIP, objective=False),
    Metric("eval_dip_diag", "min", "held-out DIP-VAE penalty: Σ of squared (diagonal variance − 1)", "", _T,
           needs_probabilistic=True, model_types=_DIP, objective=False),
    Metric("active_dims", None, "active latent dims (KL > 0.01 nats)", "dims", _T, needs_probabilistic=True,
           objective=False),
    Metric("udr", "max", "UDR, unsupervised disentanglement ranking (Duan et al. 2020)", "", Source.STUDY,
           objective=False),
    Metric("val_recon_error", "min", "validation reconstruction error (nats/image)", _NATS, Source.TRAINING),
)

#: Metric name → its catalogue entry.
METRICS: dict[str, Metric] = {m.name: m for m in CATALOGUE}


def metric_direction(name: str) -> str | None:
    """The better side of metric ``name`` ("min"/"max"); None if it has none or is not catalogued."""
    entry = METRICS.get(name)
    return entry.direction if entry else None


def metric_label(name: str) -> str:
    """Axis label of metric ``name`` (with its unit); the name itself for an uncatalogued column."""
    entry = METRICS.get(name)
    return entry.label if entry else name


def _needs(m: Metric) -> str:
    needs = ["factors"] if m.needs_factors else ["no factors"] if m.without_factors else []
    needs += ["probabilistic encoder"] if m.needs_probabilistic else []
    needs += [" or ".join(m.model_types)] if m.model_types else []
    return ", ".join(needs) or "–"


def _source(m: Metric) -> str:
    if m.scorer:
        return f"score_model (`{m.scorer}`)"
    return f"{m.source} (`python -m analysis udr`)" if m.source == Source.STUDY else str(m.source)


def metrics_table() -> str:
    """The catalogue as docs/architecture.md's Markdown table (tests/analysis/test_schema.py
    checks the doc holds exactly this)."""
    rows = ["| metric | better | unit | from | presets | needs | `_se` | objective |",
            "|---|---|---|---|---|---|---|---|"]
    for m in CATALOGUE:
        cells = [f"`{m.name}`", m.direction or "–", m.unit, _source(m), ", ".join(m.presets), _needs(m),
                 "yes" if m.has_se else "", "yes" if m.objective else ""]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--metrics-table"]:
        sys.exit("usage: python -m analysis.catalogue --metrics-table")
    sys.stdout.write(metrics_table())
