"""A trial's resumable checkpoints: a folder with the weights, the optimiser moments, the step and
every RNG stream (``state.pt``), and a JSON side (``meta.json``: format version, step, trial config,
model config and the caller's extra state such as the trial's MLflow run id). The meta's trial
config is redacted (:func:`analysis.redaction.redact`: the study's ``secrets:`` fields, URI passwords).

Resuming from a checkpoint continues exactly where it was written: same weights, same optimiser
state, same minibatch stream (tests check the resumed run equals the uninterrupted one).

Atomic: a checkpoint is written into a temporary sibling folder (``.tmp-<name>-*``), each file
flushed and fsynced, then renamed into place — the folder appears whole or not at all; temporary
folders left by a crash are never read and are removed by the next write. Verified: loading checks
the meta's JSON and :data:`FORMAT_VERSION` and that ``state.pt`` loads whole; a damaged checkpoint
raises :class:`CheckpointError` naming the file and what is wrong, and :func:`resolve_resume` skips
it (with a warning) for the newest one that loads.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import shutil
import tempfile
from typing import Any

import torch

from analysis.redaction import redact

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"
META_FILE = "meta.json"
FORMAT_VERSION = 1
"""``meta.json``'s ``format``: what this code writes and reads (a meta without it is version 1)."""
TMP_PREFIX = ".tmp-"
STATE_KEYS = ("model", "optimizer", "step", "torch_rng", "data_rng")


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from; the message names the file and what is wrong."""


def _write_file(path: str, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a directory
        pass
    finally:
        os.close(fd)


STALE_SECONDS = 3600.0
"""A temporary folder of another checkpoint name this old is a crashed write's (a live write takes seconds)."""


def remove_stale_temporaries(parent: str, name: str) -> None:
    """Remove the temporary folders a crashed write left in ``parent`` (never read as checkpoints):
    those of checkpoint ``name`` (about to be written again) and any older than :data:`STALE_SECONDS`
    (not those of another writer's checkpoint in progress)."""
    import time

    try:
        names = os.listdir(parent)
    except OSError:
        return
    for entry in names:
        path = os.path.join(parent, entry)
        if not entry.startswith(TMP_PREFIX) or not os.path.isdir(path):
            continue
        try:
            old = time.time() - os.stat(path).st_mtime > STALE_SECONDS
        except OSError:
            continue
        if entry.startswith(f"{TMP_PREFIX}{name}-") or old:
            shutil.rmtree(path, ignore_errors=True)


def write_checkpoint_folder(path: str, files: dict[str, bytes]) -> str:
    """Write ``files`` (name → bytes) as the folder ``path``, atomically: a temporary sibling, every
    file fsynced, then renamed into place (an existing folder of that name is replaced)."""
    path = os.path.abspath(path)
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    remove_stale_temporaries(parent, name)
    tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{name}-", dir=parent)
    try:
        for file_name, data in files.items():
            _write_file(os.path.join(tmp, file_name), data)
        _fsync_dir(tmp)
        if os.path.exists(path):  # rewritten (same step): the old one moves aside, then goes
            old = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{name}-old-", dir=parent)
            os.rename(path, os.path.join(old, name))
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(parent)
    return path


def save_checkpoint(path: str, model, optimizer, step: int, generator: torch.Generator,
                    config, extra: dict[str, Any] | None = None, auxiliary_optimizer=None,
                    secrets: tuple[str, ...] = ()) -> str:
    """Write a resumable checkpoint directory: weights, optimiser(s), step and every RNG state.
    ``config`` is the trial's (dataclass) config, stored in the meta for whoever scores it later;
    ``auxiliary_optimizer`` that of a model's auxiliary network (FactorVAE's discriminator, whose
    weights are part of the model's state); ``secrets`` the config fields redacted from the meta."""
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
    buffer = io.BytesIO()
    torch.save(state, buffer)
    meta = {"format": FORMAT_VERSION, "step": step, "config": redact(dataclasses.asdict(config), secrets),
            "extra": extra or {}, "model_config": getattr(model, "config", {})}
    return write_checkpoint_folder(path, {STATE_FILE: buffer.getvalue(),
                                          META_FILE: json.dumps(meta, indent=1, default=str).encode()})


def read_checkpoint_meta(path: str) -> dict[str, Any]:
    """The JSON side of a checkpoint (step, config, caller's extra state such as an MLflow run id);
    :class:`CheckpointError` if it is missing, not JSON or of another format version."""
    file = os.path.join(path, META_FILE)
    try:
        with open(file, encoding="utf-8") as handle:
            meta = json.load(handle)
    except FileNotFoundError:
        raise CheckpointError(f"{file}: missing (not a checkpoint folder, or an unfinished one)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{file}: unreadable or garbled ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{file}: garbled (a JSON {type(meta).__name__}, not an object)")
    version = meta.get("format", 1)
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{file}: checkpoint format {version!r}, this code reads format {FORMAT_VERSION}")
    return meta


def read_checkpoint_state(path: str) -> dict[str, Any]:
    """``state.pt`` of a checkpoint, loaded whole; :class:`CheckpointError` if missing, truncated
    or not a checkpoint's state."""
    file = os.path.join(path, STATE_FILE)
    if not os.path.isfile(file):
        raise CheckpointError(f"{file}: missing (not a checkpoint folder, or an unfinished one)")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        size = os.path.getsize(file)
        raise CheckpointError(f"{file}: truncated or corrupt ({size} bytes; {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    missing = [k for k in STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"{file}: not a trial checkpoint (no {', '.join(missing)})")
    return state


def verify_checkpoint(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state, meta) of a checkpoint that loads whole, else :class:`CheckpointError`."""
    if not os.path.isdir(path):
        raise CheckpointError(f"{path}: no such checkpoint folder")
    meta = read_checkpoint_meta(path)
    state = read_checkpoint_state(path)
    if "step" in meta and int(meta["step"]) != int(state["step"]):
        raise CheckpointError(f"{os.path.join(path, META_FILE)}: step {meta['step']} but {STATE_FILE} "
                              f"holds step {state['step']} (files from two checkpoints)")
    return state, meta


def is_checkpoint_folder(path: str) -> bool:
    """Does ``path`` look like one checkpoint (rather than a folder of them)?"""
    return any(os.path.exists(os.path.join(path, f)) for f in (STATE_FILE, META_FILE))


def checkpoints_in(folder: str) -> list[str]:
    """The checkpoint folders in ``folder``, newest (highest name: ``step_<n>``) first; temporary
    folders of unfinished writes are not among them."""
    try:
        names = sorted(os.listdir(folder), reverse=True)
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names
            if not n.startswith(TMP_PREFIX) and os.path.isdir(os.path.join(folder, n))
            and is_checkpoint_folder(os.path.join(folder, n))]


def newest_loadable(candidates: list[str]) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """The first of ``candidates`` (newest first) that loads, as (path, state, meta); each damaged
    one is skipped with a warning naming it; None if none loads."""
    for path in candidates:
        try:
            state, meta = verify_checkpoint(path)
            return path, state, meta
        except CheckpointError as exc:
            log.warning("skipping damaged checkpoint %s", exc)
    return None


def resolve_resume(path: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """What ``--resume-from PATH`` continues from: PATH itself if it is a checkpoint (damaged:
    :class:`CheckpointError`), else the newest checkpoint in PATH that loads."""
    if not os.path.isdir(path):
        raise CheckpointError(f"{path}: no such checkpoint folder")
    if is_checkpoint_folder(path):
        state, meta = verify_checkpoint(path)
        return path, state, meta
    found = newest_loadable(checkpoints_in(path))
    if found is None:
        raise CheckpointError(f"{path}: no checkpoint in it loads (none, or all damaged)")
    return found


def restore_state(state: dict[str, Any], model, optimizer, generator: torch.Generator,
                  auxiliary_optimizer=None) -> int:
    """Put a loaded ``state.pt`` back into the model, the optimiser(s) and the RNG streams."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if auxiliary_optimizer is not None:
        auxiliary_optimizer.load_state_dict(state["auxiliary_optimizer"])
    torch.set_rng_state(state["torch_rng"])
    generator.set_state(state["data_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"])


def load_checkpoint(path: str, model, optimizer, generator: torch.Generator, auxiliary_optimizer=None) -> int:
    """Restore ``model``, the optimiser(s) and the RNG streams from ``path``; returns its step."""
    state, _ = verify_checkpoint(path)
    return restore_state(state, model, optimizer, generator, auxiliary_optimizer)


def load_checkpoint_model(path: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The trained model of a checkpoint folder (in eval mode) and its meta (for scoring it later)."""
    from models import build_model

    state, meta = verify_checkpoint(path)
    config = dict(meta["model_config"])
    model = build_model(config.pop("model_type"), config.pop("latent_dim"), **config)
    model.load_state_dict(state["model"])
    return model.eval(), meta
