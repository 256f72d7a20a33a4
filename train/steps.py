"""The training steps of a trial: one optimiser step (:func:`train_step`) and the loop of report
windows (:func:`train`), which detects divergence and hands each :class:`Report` to the caller.

The step is kept lean for CPU throughput: batches are generated on the training device, there is no
DataLoader, and the loss is read back (a host sync) only at report time."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from analysis.schema import TrialStatus
from train.config import TrialConfig
from train.evaluation import estimate, mean_recon_error
from train.trial_run import TrialRun

log = logging.getLogger(__name__)

COMPLETED = TrialStatus.COMPLETED
DIVERGED = TrialStatus.DIVERGED


@dataclass(frozen=True)
class Report:
    """What the trial tells its caller at each report: curves, maybe a checkpoint, maybe the end."""

    step: int
    metrics: dict[str, float]
    checkpoint: str | None = None
    final: bool = False


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
    from train.device import autocast

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


def window_metrics(run: TrialRun, sums: dict[str, torch.Tensor], steps: int, seconds: float,
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
    from train.device import maybe_compile

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
            metrics = window_metrics(run, sums, window_steps, time.perf_counter() - window_start, val_images)
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
