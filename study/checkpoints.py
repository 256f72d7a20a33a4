"""A trial's resumable checkpoints: a folder with the weights, the optimiser moments, the step and
every RNG stream (``state.pt``), and a JSON side (``meta.json``: step, trial config, model config
and the caller's extra state such as the trial's MLflow run id). The meta's trial config is
redacted (:func:`analysis.redaction.redact`: the study's ``secrets:`` fields, URI passwords).

Resuming from a checkpoint continues exactly where it was written: same weights, same optimiser
state, same minibatch stream (tests check the resumed run equals the uninterrupted one).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import torch

from analysis.redaction import redact

STATE_FILE = "state.pt"
META_FILE = "meta.json"


def save_checkpoint(path: str, model, optimizer, step: int, generator: torch.Generator,
                    config, extra: dict[str, Any] | None = None, auxiliary_optimizer=None,
                    secrets: tuple[str, ...] = ()) -> str:
    """Write a resumable checkpoint directory: weights, optimiser(s), step and every RNG state.
    ``config`` is the trial's (dataclass) config, stored in the meta for whoever scores it later;
    ``auxiliary_optimizer`` that of a model's auxiliary network (FactorVAE's discriminator, whose
    weights are part of the model's state); ``secrets`` the config fields redacted from the meta."""
    os.makedirs(path, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "torch_rng": torch.get_rng_state(),
        "data_rng": generator.get_state(),
    }
    if auxiliary_optimizer is not None:
        state["auxiliary_optimizer"] = auxiliary_optimizer.state_dict()
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    torch.save(state, os.path.join(path, STATE_FILE))
    meta = {"step": step, "config": redact(dataclasses.asdict(config), secrets), "extra": extra or {},
            "model_config": getattr(model, "config", {})}
    with open(os.path.join(path, META_FILE), "w") as handle:
        json.dump(meta, handle, indent=1, default=str)
    return path


def read_checkpoint_meta(path: str) -> dict[str, Any]:
    """The JSON side of a checkpoint (step, config, caller's extra state such as an MLflow run id)."""
    with open(os.path.join(path, META_FILE)) as handle:
        return json.load(handle)


def load_checkpoint(path: str, model, optimizer, generator: torch.Generator, auxiliary_optimizer=None) -> int:
    """Restore ``model``, the optimiser(s) and the RNG streams from ``path``; returns its step."""
    state = torch.load(os.path.join(path, STATE_FILE), map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if auxiliary_optimizer is not None:
        auxiliary_optimizer.load_state_dict(state["auxiliary_optimizer"])
    torch.set_rng_state(state["torch_rng"])
    generator.set_state(state["data_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"])


def load_checkpoint_model(path: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The trained model of a checkpoint folder (in eval mode) and its meta (for scoring it later)."""
    from models import build_model

    meta = read_checkpoint_meta(path)
    config = dict(meta["model_config"])
    model = build_model(config.pop("model_type"), config.pop("latent_dim"), **config)
    state = torch.load(os.path.join(path, STATE_FILE), map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    return model.eval(), meta
