"""One trial, no orchestration: build data and model, train with Adam, checkpoint, score.

:func:`train_and_evaluate` is all a trial is, in four steps read at a glance: :func:`setup` (data,
model, optimiser, RNG streams, maybe a resumed checkpoint), :func:`train` (report windows of
training steps), :func:`score` (the metric preset, the held-out objective terms and the codes UDR compares) and
:func:`write_artifacts` (figures and the model file, rendered once). Ray Tune plugs in through
``callback`` (reports and checkpoints) and ``resume_from`` (the last checkpoint after a crash);
the same function runs from the command line (``python -m study.trial``) with no Ray at all.

The training step is kept lean for CPU throughput: batches are generated on the training device,
there is no DataLoader, and the loss is only read back (a host sync) at report time. Divergence is
detected there too: a non-finite running loss ends the trial with status diverged
(:class:`analysis.schema.TrialStatus`) instead of raising, so one bad hyper-parameter never kills
the study that runs it.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from analysis.schema import Precision, TrialStatus, numeric_values
from study.checkpoints import (
    CheckpointError,
    load_checkpoint_model,
    read_checkpoint_meta,
    resolve_resume,
    restore_state,
    save_checkpoint,
)
from study.config import TrialConfig
from study.evaluation import (
    estimate,
    evaluate_objective_terms,
    mean_recon_error,
    score,
    write_artifacts,
    write_udr_codes,
)
from study.timings import Timings

log = logging.getLogger(__name__)

COMPLETED = TrialStatus.COMPLETED
DIVERGED = TrialStatus.DIVERGED

__all__ = ["train_and_evaluate", "Report", "TrialResult", "CheckpointError", "read_checkpoint_meta",
           "load_checkpoint_model", "build_model_for", "evaluate_objective_terms", "main"]


@dataclass(frozen=True)
class Report:
    """What the trial tells its caller at each report: curves, maybe a checkpoint, maybe the end."""

    step: int
    metrics: dict[str, float]
    checkpoint: str | None = None
    final: bool = False


@dataclass
class TrialResult:
    """Outcome of a trial: status, steps done, final scores, the training curve, and the files
    written for it (artifact path → local file: figures and the model, see :class:`Artifact`)."""

    status: TrialStatus
    step: int
    scores: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)
    timings: Timings = field(default_factory=Timings)
    precision: Precision = Precision.FP32


@dataclass
class TrialRun:
    """Everything a running trial holds, from :func:`setup` to :func:`write_artifacts`."""

    config: TrialConfig
    device: torch.device
    data: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    auxiliary_optimizer: torch.optim.Optimizer | None = None
    step: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    checkpoint_dir: str | None = None
    timings: Timings = field(default_factory=Timings)
    secrets: tuple[str, ...] = ()
    precision: Precision = Precision.FP32

    def checkpoint(self) -> str | None:
        """Write a checkpoint of the current step (a fresh ``step_<n>`` folder); None = disabled."""
        if self.checkpoint_dir is None:
            return None
        return save_checkpoint(os.path.join(self.checkpoint_dir, f"step_{self.step:08d}"), self.model,
                               self.optimizer, self.step, self.generator, self.config, self.extra,
                               auxiliary_optimizer=self.auxiliary_optimizer, secrets=self.secrets)


def build_data(config: TrialConfig, device: torch.device):
    """The dataset the config names, generated or loaded on ``device``."""
    from study.data import get_dataset

    return get_dataset(config.dataset, root=config.data_root, device=device)


def model_settings_for(config: TrialConfig) -> dict[str, Any]:
    """The model type's own constructor settings for this trial: its declared hyperparameters'
    defaults, then what depends on the budget (``trial_defaults``, e.g. AnnealedVAE's schedule
    length), then the trial's own ``model_params`` entry."""
    from study.config.model_types import model_classes

    cls = model_classes()[config.model_type]
    return {**{hp.name: hp.default for hp in cls.hyperparameters}, **cls.trial_defaults(config.steps),
            **config.own_params()}


def precision_for(config: TrialConfig, device: torch.device | None = None) -> Precision:
    """What the trial trains in: ``config.amp`` resolved on this node for its device and model type."""
    from study.config.model_types import model_classes
    from study.device import resolve_precision, select_device

    device = device if device is not None else select_device(config.gpus, config.device)
    return resolve_precision(config.amp, device, model_classes()[config.model_type].bf16_under_auto)


def build_model_for(config: TrialConfig, data) -> torch.nn.Module:
    """The model the config names, sized for ``data`` (channels, N for β-TCVAE's estimator)."""
    from models import build_model

    return build_model(
        config.model_type,
        config.latent_dim,
        architecture=config.architecture,
        in_channels=data.num_channels,
        likelihood=config.likelihood or data.default_likelihood,
        gaussian_variance=config.gaussian_variance,
        dataset_size=data.num_examples,
        **model_settings_for(config),
    )


def setup(config: TrialConfig, *, checkpoint_dir: str | None = None, resume_from: str | None = None,
          extra_state: dict[str, Any] | None = None, data=None, secrets: tuple[str, ...] = ()) -> TrialRun:
    """Seed everything, build data/model/optimiser on the trial's device, maybe resume.

    First of all, flush-to-zero and the thread count (:func:`study.device.configure_cpu`): this is
    the thread that trains (the main thread from the command line, Tune's runner thread in a Ray
    worker), so its intra-op pool has not started yet and all of its threads inherit the flag."""
    from study.device import configure_cpu, select_device, use_channels_last

    configure_cpu(config.num_threads, config.flush_denormal)
    resumed = resolve_resume(resume_from) if resume_from else None  # a damaged checkpoint fails first
    device = select_device(config.gpus, config.device)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % (2**32))
    data = data if data is not None else build_data(config, device)
    model = use_channels_last(build_model_for(config, data).to(device), config.channels_last, device)
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)
    # A model with an auxiliary network (FactorVAE's discriminator) trains it with its own optimiser.
    optimizer = torch.optim.Adam(model.main_parameters(), lr=config.lr, foreach=True)
    run = TrialRun(config, device, data, model, optimizer, generator,
                   auxiliary_optimizer=model.auxiliary_optimizer(), extra=dict(extra_state or {}),
                   checkpoint_dir=checkpoint_dir, secrets=tuple(secrets),
                   precision=precision_for(config, device))
    log.info("training in %s (amp %s) on %s", run.precision, config.amp, device)
    if resumed is not None:
        resume_from, state, meta = resumed
        run.step = restore_state(state, model, run.optimizer, generator, run.auxiliary_optimizer)
        run.extra = {**meta.get("extra", {}), **run.extra}
        log.info("resumed from %s at step %d", resume_from, run.step)
    return run


#: Fault injection for tests, read only by :func:`forced_nan_step`: "STEP" makes every trial's loss
#: NaN at that step, "STEP:field=value,..." only the trials whose config fields have those values.
FORCE_NAN_ENV = "BETASWEEP_TEST_NAN_AT_STEP"


def forced_nan_step(config: TrialConfig) -> int | None:
    """The step at which :data:`FORCE_NAN_ENV` makes this trial's loss NaN (None: never)."""
    spec = os.environ.get(FORCE_NAN_ENV)
    if not spec:
        return None
    step, _, where = spec.partition(":")
    for condition in filter(None, where.split(",")):
        key, _, value = condition.partition("=")
        if str(getattr(config, key, None)) != value:
            return None
    return int(step)


def train_step(run: TrialRun, step_fn, sums: dict[str, torch.Tensor]) -> None:
    """One optimiser step (then, for a model with an auxiliary network, one step of it on a second
    batch, after the main step as :class:`models.base.LatentModel` documents); the loss terms are
    summed on the device (no host sync)."""
    from study.device import autocast

    config = run.config
    x = run.data.train_batch(config.batch_size, run.generator)
    reg_weight = min(1.0, run.step / config.kl_warmup_steps) if config.kl_warmup_steps else 1.0
    with autocast(run.device, run.precision):
        out = step_fn(x, noise_scale=reg_weight)
        lo = run.model.loss(x, out, reg_weight=reg_weight)
    loss = lo.loss
    if run.step + 1 == forced_nan_step(config):
        loss = loss * float("nan")
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    terms = dict(lo.terms)
    if run.auxiliary_optimizer is not None:
        x2 = run.data.train_batch(config.batch_size, run.generator) if run.model.needs_second_batch else x
        with autocast(run.device, run.precision):
            aux = run.model.auxiliary_loss(out, x2, noise_scale=reg_weight)
        run.auxiliary_optimizer.zero_grad(set_to_none=True)
        aux.loss.backward()
        run.auxiliary_optimizer.step()
        terms.update(aux.terms)
    run.step += 1
    sums["loss"] = sums.get("loss", 0.0) + loss.detach()
    for name, value in terms.items():
        sums[name] = sums.get(name, 0.0) + value


def _window_metrics(run: TrialRun, sums: dict[str, torch.Tensor], steps: int, seconds: float,
                    val_images: torch.Tensor) -> dict[str, float] | None:
    """The report of one training window: mean curves, throughput, validation reconstruction error,
    step; None if the running loss is not finite (the trial diverged)."""
    metrics = {f"train/{k}": float(v) / steps for k, v in sums.items()}
    if not math.isfinite(metrics["train/loss"]):
        log.warning("trial diverged (non-finite loss) by step %d", run.step)
        return None
    metrics["images_per_second"] = steps * run.config.batch_size / max(seconds, 1e-9)
    metrics["val_recon_error"] = mean_recon_error(run.model, val_images, 256)
    metrics["step"] = float(run.step)
    return metrics


def train(run: TrialRun, callback: Callable[[Report], None] | None = None
          ) -> tuple[TrialStatus, list[dict[str, float]], float]:
    """Train to ``config.steps`` in windows of ``report_every`` steps, reporting (and every
    ``checkpoint_every`` steps checkpointing) after each; returns status, curves and seconds."""
    from study.device import maybe_compile

    config = run.config
    val_images, val_labels = run.data.eval_set(config.val_size, seed=1)
    step_fn = maybe_compile(run.model, config.compile, run.device)
    checkpoint_every = max(config.report_every,
                           config.checkpoint_every // config.report_every * config.report_every)
    history: list[dict[str, float]] = []
    run.model.train()
    started, timings = time.perf_counter(), run.timings
    while run.step < config.steps:
        window_end = min((run.step // config.report_every + 1) * config.report_every, config.steps)
        sums: dict[str, torch.Tensor] = {}
        window_start, window_steps = time.perf_counter(), window_end - run.step
        with timings.phase("steps"):
            while run.step < window_end:
                train_step(run, step_fn, sums)
        with timings.phase("validation"):
            metrics = _window_metrics(run, sums, window_steps, time.perf_counter() - window_start, val_images)
        if metrics is None:
            return DIVERGED, history, time.perf_counter() - started
        if run.step in config.estimate_at:
            with timings.phase("rung_scoring"):
                metrics.update(estimate(run, val_images, val_labels))
        history.append(metrics)
        with timings.phase("checkpoints"):
            ckpt = run.checkpoint() if run.step % checkpoint_every == 0 and run.step < config.steps else None
        if callback is not None:
            with timings.phase("reports"):
                callback(Report(step=run.step, metrics=metrics, checkpoint=ckpt))
    return COMPLETED, history, time.perf_counter() - started


def train_and_evaluate(
    config: TrialConfig,
    *,
    checkpoint_dir: str | None = None,
    resume_from: str | None = None,
    callback: Callable[[Report], None] | None = None,
    extra_state: dict[str, Any] | None = None,
    data=None,
    artifact_dir: str | None = None,
    secrets: tuple[str, ...] = (),
    on_setup: Callable[[TrialRun], None] | None = None,
) -> TrialResult:
    """Train ``config``'s model and score it.

    Args:
        config: the trial (validated by the caller or by :func:`study.config.trial_from_dict`).
        checkpoint_dir: where checkpoints are written (a fresh ``step_<n>`` folder each time);
            ``None`` = no checkpoints.
        resume_from: a checkpoint folder written by this function; training continues from its
            step with the same weights, optimiser moments and RNG streams.
        callback: receives a :class:`Report` every ``report_every`` steps (with the checkpoint
            path every ``checkpoint_every`` steps) and once at the end with the final scores.
        extra_state: JSON-able caller state stored in every checkpoint (e.g. an MLflow run id).
        data: a dataset object to reuse (else built from the config).
        artifact_dir: where a completed trial's figures, model file and UDR codes are written
            (:func:`write_artifacts`, :func:`write_udr_codes`); ``None`` = none are.
        secrets: config fields redacted from the checkpoints' meta (the study's ``secrets:``).
        on_setup: called with the :class:`TrialRun` once data and model are built (the trainable
            records the dataset then).

    Returns:
        A :class:`TrialResult`; ``status`` is diverged if the loss became NaN/inf, else completed.
    """
    timings = Timings()
    with timings.phase("setup"):
        run = setup(config, checkpoint_dir=checkpoint_dir, resume_from=resume_from,
                    extra_state=extra_state, data=data, secrets=secrets)
        if on_setup is not None:
            on_setup(run)
    run.timings = timings
    status, history, train_seconds = train(run, callback)
    result = TrialResult(status=status, step=run.step, history=history, train_seconds=train_seconds,
                         extra=run.extra, scores={"steps_done": float(run.step)}, timings=timings,
                         precision=run.precision)
    if status == COMPLETED:
        with timings.phase("scoring"):
            result.scores = {**score(run), "train_seconds": train_seconds}
            if artifact_dir is not None:  # UDR's measurement: the codes its study-level half compares
                result.artifacts.update(write_udr_codes(run, artifact_dir))
        with timings.phase("checkpoints"):
            result.checkpoint = run.checkpoint()
        if artifact_dir is not None:
            with timings.phase("artifacts"):
                result.artifacts.update(write_artifacts(run, artifact_dir))
    if callback is not None:
        metrics = numeric_values(result.scores) if status == COMPLETED else {"step": float(run.step)}
        with timings.phase("reports"):
            callback(Report(step=run.step, metrics=metrics, checkpoint=result.checkpoint, final=True))
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m study.trial``: the command line lives in :mod:`study.trial_cli`."""
    from study.trial_cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    sys.exit(main())
