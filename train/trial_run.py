"""What a running trial holds (:class:`TrialRun`) and :func:`setup`, which builds it: data, model,
optimisers and RNG streams on the trial's device, maybe restored from a checkpoint."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from analysis.schema import Precision
from train.checkpoints import resolve_resume, restore_state, save_checkpoint
from train.config import TrialConfig
from train.timings import Timings

log = logging.getLogger(__name__)


@dataclass
class TrialRun:
    """Everything a running trial holds, from :func:`setup` to :func:`train.evaluation.write_artifacts`."""

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
    from train.data import get_dataset

    return get_dataset(config.dataset, root=config.data_root, device=device)


def model_settings_for(config: TrialConfig) -> dict[str, Any]:
    """The model type's own constructor settings for this trial: its declared hyperparameters'
    defaults, then what depends on the budget (``trial_defaults``, e.g. AnnealedVAE's schedule
    length), then the trial's own ``model_params`` entry."""
    from train.model_types import model_classes

    cls = model_classes()[config.model_type]
    return {**{hp.name: hp.default for hp in cls.hyperparameters}, **cls.trial_defaults(config.steps),
            **config.own_params()}


def precision_for(config: TrialConfig, device: torch.device | None = None) -> Precision:
    """What the trial trains in: ``config.amp`` resolved on this node for its device and model type."""
    from train.device import resolve_precision, select_device
    from train.model_types import model_classes

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

    First of all, flush-to-zero and the thread count (:func:`train.device.configure_cpu`): this is
    the thread that trains (the main thread from the command line, Tune's runner thread in a Ray
    worker), so its intra-op pool has not started yet and all of its threads inherit the flag."""
    from train.device import configure_cpu, select_device, use_channels_last

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
