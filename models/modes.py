"""Train/eval mode switching that always puts a model back the way it was found."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``model`` in eval mode, then restore its previous mode (even on error).

    Scoring, figures and validation run in the middle of training; a bare ``model.eval()`` there
    would silently leave a training model in eval mode (or a caller's eval model in train mode).
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
