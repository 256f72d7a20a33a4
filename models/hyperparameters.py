"""What a model type declares about its own hyperparameters (torch-free, so validation can read it).

A model class lists its objective's knobs in ``hyperparameters``: each one is a keyword argument of
the class's constructor (the swept name is the constructor's own argument), with the default search
range a study uses when the user gives none and the grid of the paper that sweeps it (Locatello et
al. 2019, Table 2, for the disentanglement_lib zoo). The search space, config validation, the logged
params and the analysis figures all derive from these declarations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class HyperParameter:
    """One searched knob of a model type's objective.

    ``name`` is the constructor's keyword argument; ``low``/``high`` the default search range
    (log-uniform when ``log``); ``grid`` the paper's values; ``default`` what the constructor uses
    when the study does not set it; ``integer`` for a count rather than a weight; ``symbol`` the
    paper's letter for figure labels (e.g. β), else the name is used.
    """

    name: str
    default: float
    low: float
    high: float
    grid: tuple[float, ...]
    log: bool = True
    integer: bool = False
    symbol: str = ""
    description: str = ""
    reference: str = ""

    def __post_init__(self) -> None:
        if not self.low <= self.default <= self.high:
            raise ValueError(f"{self.name}: default {self.default} outside [{self.low}, {self.high}]")
        if self.log and not self.low > 0:
            raise ValueError(f"{self.name}: a log-uniform range needs low > 0, got {self.low}")
        if any(not self.low <= g <= self.high for g in self.grid):
            raise ValueError(f"{self.name}: grid {self.grid} leaves [{self.low}, {self.high}]")

    @property
    def label(self) -> str:
        """The paper's symbol, or the name when there is none."""
        return self.symbol or self.name

    def check(self, value: float, where: str) -> str | None:
        """An error message naming ``where`` and the fix if ``value`` is not usable, else None.

        The range is the default *search* range; a fixed value only has to be finite and positive
        (for a log-scale knob) or non-negative, so a user can try a value outside the paper's range.
        """
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return f"{where}: must be a finite number, got {value!r}; e.g. {self.default:g}"
        if self.log and value <= 0:
            return f"{where}: must be > 0, got {value}; e.g. {self.default:g}"
        if value < 0:
            return f"{where}: must be >= 0, got {value}; e.g. {self.default:g}"
        return None
