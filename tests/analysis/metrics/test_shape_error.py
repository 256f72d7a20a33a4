"""Shape error: 0 for blur, gain and offset; grows with misplacement and outline error; NaN when
the model has collapsed; matches a direct pixel-space correlation."""

import math

import numpy as np
import pytest
import torch

from analysis.metrics import blur_per_image, gaussian_blur, shape_error, shape_error_per_image, shape_error_with_se
from tests.analysis.metrics.probes import dilate, erode, random_shapes, shift, unsharp


@pytest.fixture(scope="module")
def images():
    from train.data import dsprites

    return dsprites().eval_set(64, seed=0)[0]


def test_blur_gain_and_offset_are_not_shape_errors(images):
    for y in (images, gaussian_blur(images, 2.0), 0.5 * gaussian_blur(images, 1.0) + 0.2, unsharp(images)):
        assert shape_error(y, images) == pytest.approx(0.0, abs=0.02)


def test_grows_with_misplacement_and_outline_error(images):
    shifted = [shape_error(shift(images, 0, d), images) for d in (1, 2, 3)]
    assert 0.05 < shifted[0] < shifted[1] < shifted[2] < 1, shifted
    assert shape_error(gaussian_blur(shift(images, 0, 2), 1.5), images) > 0.05
    for y in (dilate(images), erode(images)):
        assert 0.1 < shape_error(y, images) < shifted[2]
    other = images.flip(0)  # every image against another one
    assert shape_error(other, images) > 0.9


def test_matches_the_pixel_space_correlation(images):
    x = random_shapes(6)
    y = gaussian_blur(shift(x, 1, 2), 1.3)
    sigma = blur_per_image(y, x)
    got = shape_error_per_image(y, x, sigma)
    for n in range(len(x)):  # oracle: blur the original by σ̂ in pixel space, correlate all pixels
        ref = gaussian_blur(x[n:n + 1].double(), float(sigma[n])).flatten().numpy()
        rho = np.corrcoef(ref, y[n].double().flatten().numpy())[0, 1]
        assert float(got[n]) == pytest.approx(1 - max(rho, 0) ** 2, abs=1e-9)


def test_collapsed_and_constant(images):
    mean = images.mean(0, keepdim=True).expand_as(images).clone()
    assert all(math.isnan(v) for v in shape_error_with_se(mean, images))
    x = images[:4].clone()
    x[0] = 0.3
    assert math.isnan(shape_error_per_image(x, x)[0]) and shape_error_per_image(x, x)[1:].abs().max() < 1e-9
    value, se = shape_error_with_se(shift(images, 0, 1), images, np.random.default_rng(0))
    assert 0 < se < value
    assert torch.isfinite(shape_error_per_image(gaussian_blur(images, 20.0), images)).all()  # beyond SIGMA_MAX
