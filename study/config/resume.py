"""What ``--resume NAME`` may change in a study's saved config, checked before any Ray, MLflow or
Optuna work (:func:`check_resume`).

A resumed study keeps everything that makes its trials comparable with each other: the trial
template (budget, data, model, optimiser, scoring), the search space, the objectives, the sampler,
early stopping, the name and experiment. What may change:

* how many trials it has: ``search.num_trials`` (search mode), the new **total**, at least the
  trials it has made; ``space.seeds_per_config`` (grid and paper-grid modes), at least the current
  count, which adds the missing seeds to every configuration (:mod:`study.extend`);
* where and how the trials run: ``resources.*`` (CPUs, GPUs, concurrency, retries, actor reuse),
  ``trial.num_threads``, ``trial.device``, ``address`` (the Ray cluster);
* where the records and files are: ``root`` (the folder the study was found in), ``tracking_uri``
  (the same MLflow store, by another address, or with its password given again),
  ``tracking_wait``/``tracking_start_wait``, and ``trial.data_root`` from one folder to another
  (the same files elsewhere; not from or to none, which switches dSprites between the official
  file and the procedural look-alike).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from study.config.sections import StudyConfig
from train.options import ConfigError

#: Dotted fields a resumed study may take new values for (besides the trial counts, checked apart).
RESUMABLE: tuple[str, ...] = (
    "root", "tracking_uri", "address", "tracking_wait", "tracking_start_wait",
    "resources.cpus", "resources.gpus", "resources.max_concurrent", "resources.reuse_actors",
    "resources.max_failures", "trial.num_threads", "trial.device", "trial.gpus",
)


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and value and key not in ("ranges", "model_params"):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def changed_fields(saved: StudyConfig, given: StudyConfig) -> dict[str, tuple[Any, Any]]:
    """Dotted field → (saved value, given value), for every field that differs."""
    old, new = _flat(saved.to_dict()), _flat(given.to_dict())
    return {key: (old.get(key), new.get(key)) for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key)}


def _allowed(key: str, old: Any, new: Any, saved: StudyConfig) -> bool:
    grid = saved.space.mode != "search"
    if key == "search.num_trials":
        return not grid
    if key == "space.seeds_per_config":
        return grid
    if key == "trial.data_root":
        return old is not None and new is not None
    return key in RESUMABLE


def _name(key: str, flags: Mapping[str, str]) -> str:
    return f"{flags[key]} ({key})" if key in flags else key


def _why(key: str) -> str:
    if key == "search.num_trials":
        return "a grid-mode study runs every configuration × space.seeds_per_config; add seeds with --seeds-per-config"
    if key == "space.seeds_per_config":
        return ("a search-mode study tells Optuna each configuration's mean over its seeds, so every configuration "
                "keeps the seed count it started with; add trials with --num-trials")
    if key == "trial.data_root":
        return "from or to none it switches dSprites between the official file and the procedural look-alike"
    return "the trials added or resumed would not be comparable with the study's others"


def check_resume(saved: StudyConfig, given: StudyConfig, flags: Mapping[str, str] | None = None) -> None:
    """Refuse (:class:`ConfigError`, one message naming every offending option and the fix) a
    resumed config that changes what the study's trials are, or shrinks the study.

    ``saved`` is the study's saved config (secrets filled in), ``given`` the same with the options
    given alongside ``--resume``; ``flags`` maps dotted fields to their CLI options for the message."""
    flags = flags or {}
    changes = changed_fields(saved, given)
    refused = {key: change for key, change in changes.items() if not _allowed(key, *change, saved)}
    if refused:
        lines = [f"  {_name(key, flags)}: {old!r} → {new!r}; {_why(key)}"
                 for key, (old, new) in refused.items()]
        raise ConfigError(
            f"resume: {', '.join(_name(k, flags) for k in refused)} cannot change when study {saved.name!r} is "
            "resumed:\n" + "\n".join(lines) + "\nDrop these options (the study keeps its saved values), or start a "
            "new study with them (--name NEW, without --resume). On resume you may give --num-trials (search "
            "mode: the new total), --seeds-per-config (grid modes: seeds per configuration), --cpus, --gpus, "
            "--max-concurrent, --max-failures, --address, --tracking-uri and --root.")
    if given.num_trials() < saved.num_trials():
        search = saved.space.mode == "search"
        key = "search.num_trials" if search else "space.seeds_per_config"
        now, asked = ((saved.search.num_trials, given.search.num_trials) if search
                      else (saved.space.seeds_per_config, given.space.seeds_per_config))
        raise ConfigError(f"resume: {_name(key, flags)} {asked} is below the study's {now} ({saved.num_trials()} "
                          f"trials made or planned); a resumed study only grows: give the new total, at least {now}")
