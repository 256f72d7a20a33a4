"""One trial, no orchestration: build data and model, train with Adam, checkpoint, score.

:func:`train_and_evaluate` is all a trial is. Ray Tune plugs in through ``callback`` (reports and
checkpoints) and ``resume_from`` (the last checkpoint after a crash); the same function runs from
the command line (``python -m study.trial``) with no Ray at all.

The training step is kept lean for CPU throughput: batches are generated on the training device,
there is no DataLoader, and the loss is only read back (a host sync) at report time. Divergence is
detected there too: a non-finite running loss ends the trial with status diverged
(:class:`analysis.schema.TrialStatus`) instead of raising, so one bad hyper-parameter never kills
the study that runs it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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

from analysis.schema import TrialStatus, numeric_values
from study.config import TrialConfig, field_docs, trial_from_dict

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"
META_FILE = "meta.json"

COMPLETED = TrialStatus.COMPLETED
DIVERGED = TrialStatus.DIVERGED


@dataclass(frozen=True)
class Report:
    """What the trial tells its caller at each report: curves, maybe a checkpoint, maybe the end."""

    step: int
    metrics: dict[str, float]
    checkpoint: str | None = None
    final: bool = False


@dataclass
class TrialResult:
    """Outcome of a trial: status, steps done, final scores and the training curve."""

    status: TrialStatus
    step: int
    scores: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    model: Any = None
    data: Any = None


def build_data(config: TrialConfig, device: torch.device):
    """The dataset the config names, generated or loaded on ``device``."""
    from study.data import get_dataset

    return get_dataset(config.dataset, root=config.data_root, device=device)


def build_model_for(config: TrialConfig, data) -> torch.nn.Module:
    """The model the config names, sized for ``data`` (channels, N for β-TCVAE)."""
    from models import build_model

    return build_model(
        config.model_type,
        config.latent_dim,
        architecture=config.architecture,
        in_channels=data.num_channels,
        likelihood=config.likelihood or data.default_likelihood,
        gaussian_variance=config.gaussian_variance,
        beta=config.beta,
        dataset_size=data.num_examples,
        tc_estimator=config.tc_estimator,
        alpha=config.alpha,
        gamma=config.gamma,
    )


def save_checkpoint(path: str, model, optimizer, step: int, generator: torch.Generator,
                    config: TrialConfig, extra: dict[str, Any] | None = None) -> str:
    """Write a resumable checkpoint directory: weights, optimiser, step and every RNG state."""
    os.makedirs(path, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "torch_rng": torch.get_rng_state(),
        "data_rng": generator.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    torch.save(state, os.path.join(path, STATE_FILE))
    meta = {"step": step, "config": dataclasses.asdict(config), "extra": extra or {},
            "model_config": getattr(model, "config", {})}
    with open(os.path.join(path, META_FILE), "w") as handle:
        json.dump(meta, handle, indent=1, default=str)
    return path


def read_checkpoint_meta(path: str) -> dict[str, Any]:
    """The JSON side of a checkpoint (step, config, caller's extra state such as an MLflow run id)."""
    with open(os.path.join(path, META_FILE)) as handle:
        return json.load(handle)


def load_checkpoint_model(path: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The trained model of a checkpoint folder (in eval mode) and its meta (for scoring it later)."""
    from models import build_model

    meta = read_checkpoint_meta(path)
    config = dict(meta["model_config"])
    model = build_model(config.pop("model_type"), config.pop("latent_dim"), **config)
    state = torch.load(os.path.join(path, STATE_FILE), map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    return model.eval(), meta


def _load_checkpoint(path: str, model, optimizer, generator: torch.Generator) -> int:
    state = torch.load(os.path.join(path, STATE_FILE), map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    generator.set_state(state["data_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"])


@torch.no_grad()
def _mean_recon_error(model, images: torch.Tensor, batch_size: int) -> float:
    """Per-image reconstruction NLL (nats) decoding the encoder mean, averaged over ``images``."""
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        mu, _ = model.encode(x)
        total += float(model.likelihood.nll(x, model.decode(mu)).sum())
    model.train(was_training)
    return total / len(images)


@torch.no_grad()
def evaluate_objective_terms(model, images: torch.Tensor, batch_size: int) -> dict[str, float]:
    """Held-out objective and its terms (KL, and MI/TC/dim-wise KL for β-TCVAE), plus KL per dim.

    The β-TCVAE terms are minibatch estimates, so they are computed on batches of the training
    batch size (the estimator's bias depends on it) and averaged.
    """
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    kl_dims = None
    batches = 0
    for start in range(0, len(images) - batch_size + 1, batch_size):
        x = images[start:start + batch_size]
        out = model(x)
        lo = model.loss(x, out)
        sums["eval_loss"] = sums.get("eval_loss", 0.0) + float(lo.loss)
        for name, value in lo.terms.items():
            sums[f"eval_{name}"] = sums.get(f"eval_{name}", 0.0) + float(value)
        per_dim = model.kl_per_dim(out.mu, out.logvar)
        if per_dim is not None:
            kl_dims = per_dim if kl_dims is None else kl_dims + per_dim
        batches += 1
    model.train(was_training)
    result = {k: v / max(batches, 1) for k, v in sums.items()}
    if kl_dims is not None:
        for j, value in enumerate((kl_dims / max(batches, 1)).tolist()):
            result[f"kl_dim_{j}"] = value
        result["active_dims"] = float(sum(v > 0.01 for v in (kl_dims / max(batches, 1)).tolist()))
    return result


def train_and_evaluate(
    config: TrialConfig,
    *,
    checkpoint_dir: str | None = None,
    resume_from: str | None = None,
    callback: Callable[[Report], None] | None = None,
    extra_state: dict[str, Any] | None = None,
    data=None,
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

    Returns:
        A :class:`TrialResult`; ``status`` is diverged if the loss became NaN/inf, else completed.
    """
    from analysis.metrics import score_model
    from study.device import autocast, maybe_compile, select_device

    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    device = select_device(config.gpus, config.device)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % (2**32))
    data = data if data is not None else build_data(config, device)
    model = build_model_for(config, data).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, foreach=True)
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)

    step = 0
    extra = dict(extra_state or {})
    if resume_from:
        step = _load_checkpoint(resume_from, model, optimizer, generator)
        extra = {**read_checkpoint_meta(resume_from).get("extra", {}), **extra}
        log.info("resumed from %s at step %d", resume_from, step)

    def checkpoint(at_step: int) -> str | None:
        if checkpoint_dir is None:
            return None
        return save_checkpoint(os.path.join(checkpoint_dir, f"step_{at_step:08d}"), model,
                               optimizer, at_step, generator, config, extra)

    val_images, _ = data.eval_set(config.val_size, seed=1)
    step_fn = maybe_compile(model, config.compile, device)
    checkpoint_every = max(config.report_every,
                           config.checkpoint_every // config.report_every * config.report_every)
    history: list[dict[str, float]] = []
    model.train()
    start_time = time.perf_counter()
    train_seconds = 0.0
    window_start_step, window_start_time = step, time.perf_counter()
    sums: dict[str, torch.Tensor] = {}
    status = COMPLETED
    while step < config.steps:
        x = data.train_batch(config.batch_size, generator)
        reg_weight = min(1.0, step / config.kl_warmup_steps) if config.kl_warmup_steps else 1.0
        with autocast(device, config.amp):
            out = step_fn(x, noise_scale=reg_weight)
            lo = model.loss(x, out, reg_weight=reg_weight)
        loss = lo.loss
        if config.nan_at_step is not None and step + 1 == config.nan_at_step:
            loss = loss * float("nan")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        sums["loss"] = sums.get("loss", 0.0) + loss.detach()
        for name, value in lo.terms.items():
            sums[name] = sums.get(name, 0.0) + value
        if step % config.report_every == 0 or step == config.steps:
            n = step - window_start_step
            metrics = {f"train/{k}": float(v) / n for k, v in sums.items()}
            sums = {}
            if not math.isfinite(metrics["train/loss"]):
                status = DIVERGED
                log.warning("trial diverged (non-finite loss) by step %d", step)
                break
            now = time.perf_counter()
            metrics["images_per_second"] = n * config.batch_size / max(now - window_start_time, 1e-9)
            metrics["val_recon_error"] = _mean_recon_error(model, val_images, 256)
            metrics["step"] = float(step)
            history.append(metrics)
            ckpt = checkpoint(step) if step % checkpoint_every == 0 and step < config.steps else None
            if callback is not None:
                callback(Report(step=step, metrics=metrics, checkpoint=ckpt))
            window_start_step, window_start_time = step, time.perf_counter()
    train_seconds = time.perf_counter() - start_time

    if status == DIVERGED:
        result = TrialResult(status=DIVERGED, step=step, history=history,
                             train_seconds=train_seconds, extra=extra,
                             scores={"steps_done": float(step)})
        if callback is not None:
            callback(Report(step=step, metrics={"step": float(step)}, final=True))
        return result

    eval_images, eval_labels = data.eval_set(config.eval_size, seed=0)
    scores = score_model(model, data, np.random.default_rng(config.seed), which=config.metrics,
                         eval_images=eval_images, eval_labels=eval_labels)
    scores.update(evaluate_objective_terms(model, eval_images, config.batch_size))
    scores["train_seconds"] = train_seconds
    scores["steps_done"] = float(step)
    final_ckpt = checkpoint(step)
    result = TrialResult(status=COMPLETED, step=step, scores=scores, history=history,
                         train_seconds=train_seconds, extra=extra, checkpoint=final_ckpt,
                         model=model, data=data)
    if callback is not None:
        callback(Report(step=step, metrics=numeric_values(scores), checkpoint=final_ckpt, final=True))
    return result


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--field`` option per TrialConfig field, its help text from the field's docstring."""
    docs = field_docs(TrialConfig)
    for f in dataclasses.fields(TrialConfig):
        flag = "--" + f.name.replace("_", "-")
        parser.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(),
                            help=f"{docs.get(f.name, '')} (default: {f.default})")


def format_table(rows: dict[str, Any]) -> str:
    """Two-column text table of a result dict."""
    width = max(len(k) for k in rows) if rows else 0
    lines = []
    for key, value in rows.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"{key.ljust(width)}  {text}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m study.trial``: train and score one configuration, print the result table."""
    parser = argparse.ArgumentParser(
        prog="python -m study.trial",
        description="Train and score one model on one dataset, without Ray or MLflow.",
    )
    _add_config_arguments(parser)
    parser.add_argument("--checkpoint-dir", default=None,
                        help="Folder for resumable checkpoints (default: none are written).")
    parser.add_argument("--resume-from", default=None, help="Checkpoint folder to continue from.")
    parser.add_argument("--quiet", action="store_true", help="Do not print progress lines.")
    args = parser.parse_args(argv)
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrialConfig)
                 if getattr(args, f.name) is not None}
    from study.config import ConfigError

    try:
        config = trial_from_dict(overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def progress(report: Report) -> None:
        if not args.quiet and not report.final:
            m = report.metrics
            print(f"step {report.step:>7d}  loss {m['train/loss']:.2f}  "
                  f"val_recon_error {m['val_recon_error']:.2f}  {m['images_per_second']:.0f} img/s",
                  flush=True)

    result = train_and_evaluate(config, checkpoint_dir=args.checkpoint_dir,
                                resume_from=args.resume_from, callback=progress)
    rows = {"status": result.status, "steps": result.step}
    rows.update({k: v for k, v in result.scores.items() if not k.startswith("kl_dim_")})
    print(format_table(rows), flush=True)
    return 0 if result.status == COMPLETED else 1


if __name__ == "__main__":
    sys.exit(main())
