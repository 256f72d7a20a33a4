"""What the study's validation knows of model types beyond a trial's (:mod:`train.model_types`):
their declared search ranges, and which of them are probabilistic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from train.model_types import check_model_type, model_classes
from train.options import ConfigError


def check_ranges(ranges: Mapping[str, Mapping[str, Any]], path: str = "space.ranges") -> None:
    """Each range names a type's declared hyperparameter and is [low, high], low <= high, and
    low > 0 on a log scale."""
    for model_type, by_name in ranges.items():
        cls = check_model_type(model_type, path)
        declared = {hp.name: hp for hp in cls.hyperparameters}
        for name, bounds in by_name.items():
            where = f"{path}.{model_type}.{name}"
            if name not in declared:
                raise ConfigError(f"{where}: {model_type} has no searched hyperparameter {name!r}; "
                                  f"it has {', '.join(declared) or 'none'}")
            hp = declared[name]
            ok = (isinstance(bounds, (tuple, list)) and len(bounds) == 2
                  and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds))
            if not ok or bounds[0] > bounds[1] or (hp.log and bounds[0] <= 0):
                raise ConfigError(f"{where}: give [low, high] with low <= high{' and low > 0' if hp.log else ''}, "
                                  f"got {bounds!r}; the declared range is [{hp.low:g}, {hp.high:g}]")


def probabilistic_types() -> list[str]:
    """Registered model types with an encoder distribution (a KL term)."""
    return [name for name, cls in model_classes().items() if cls.probabilistic]
