"""A trial row's model hyperparameters, read from its own record: which of its params are its model
type's searched knobs (the ``hyperparameters`` tag, name → figure label) and how to print them.

Different model types sweep different knobs (β for β-VAE and β-TCVAE, C_max for AnnealedVAE, γ
for FactorVAE, λ_od for DIP-VAE); tables and figures show each row's own. Runs recorded before
the tag existed carry only ``beta``, which is read as β.
"""

from __future__ import annotations

import pandas as pd

from analysis.schema import Tag, swept_hyperparameters

#: The display column :func:`with_text` adds (e.g. "β=4").
TEXT_COLUMN = "hyperparams"


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and value != value)


def swept(row) -> dict[str, str]:
    """Name → label of ``row``'s searched hyperparameters ({} for the AE and VAE)."""
    names = swept_hyperparameters(row.get(Tag.HYPERPARAMETERS))
    if not names and _present(row.get("beta")):
        names = {"beta": "β"}
    return names


def text(row) -> str:
    """"β=4" (or "C_max=25", …): ``row``'s searched hyperparameters with their values, or ""."""
    return " ".join(f"{label}={float(row.get(name)):.3g}" for name, label in swept(row).items()
                    if _present(row.get(name)))


def columns(df: pd.DataFrame) -> list[str]:
    """Every searched-hyperparameter column of ``df``'s rows, in first-seen order."""
    names: list[str] = []
    for _, row in df.iterrows():
        names += [n for n in swept(row) if n not in names and n in df.columns]
    return names


def with_text(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the :data:`TEXT_COLUMN` display column."""
    return df.assign(**{TEXT_COLUMN: [text(row) for _, row in df.iterrows()]})
