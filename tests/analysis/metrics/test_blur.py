"""Blur in pixels: Gaussian blurs read their σ; shifts, outline changes and other sharp shapes read
≈ 0; sharpening reads negative; collapsed outputs read NaN (probes in ``probes.py``).

Probes are blurred by the module's own ``gaussian_blur`` (continuous Gaussian, the definition of σ)
and, independently, by ``scipy.ndimage.gaussian_filter`` (a sampled kernel, which blurs less than
its nominal σ below ~0.7 px — hence its looser tolerance and its range from 1 px).
"""

import math
from itertools import pairwise

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from analysis.metrics import (
    blur_per_image,
    blur_score,
    blur_with_se,
    bootstrap_median_se,
    gaussian_blur,
    is_collapsed,
    output_variation,
    sharpness_per_image,
    sharpness_px,
    sharpness_with_se,
)
from analysis.metrics.blur import SIGMA_MAX
from analysis.metrics.spectrum import edge_width2, omega2, power
from tests.analysis.metrics.probes import (
    BLUR_SIGMAS,
    dilate,
    erode,
    pink_noise,
    random_shapes,
    shift,
    threshold_blur,
    unsharp,
)


def scipy_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    return torch.from_numpy(gaussian_filter(images.numpy(), (0, 0, sigma, sigma), mode="reflect"))


def sweep_scores(images: torch.Tensor, sigmas, transform=lambda b: b) -> list[float]:
    """blur_score of transform(gaussian_blur(images, σ)) for every σ, in one vectorised call."""
    outputs = torch.cat([transform(gaussian_blur(images, s)) for s in sigmas])
    per_image = blur_per_image(outputs, images.repeat(len(sigmas), 1, 1, 1)).view(len(sigmas), -1)
    return per_image.median(1).values.tolist()


@pytest.fixture(scope="module")
def dsprites_images():
    from train.data import dsprites

    return dsprites().eval_set(64, seed=0)[0]


@pytest.fixture(scope="module")
def other_dsprites():
    from train.data import dsprites

    return dsprites().eval_set(64, seed=5)[0]


SETS = ["dsprites", "pink", "shapes"]


@pytest.fixture(scope="module", params=SETS)
def probe_set(request, dsprites_images):
    return {"dsprites": dsprites_images, "pink": pink_noise(32), "shapes": random_shapes(32)}[request.param]


def test_edge_width_matches_a_loop_over_frequencies():
    x = random_shapes(2, size=8)
    p, w2 = power(x), omega2(8, 8)
    for sigma in (0.0, 0.7):
        got = edge_width2(p, w2, torch.full((2,), sigma, dtype=torch.float64))
        for n in range(2):
            m1 = m2 = 0.0
            for k in range(8):
                for m in range(8):
                    om = (math.pi * k / 8) ** 2 + (math.pi * m / 8) ** 2
                    weight = float(p[n, k, m]) * math.exp(-sigma * sigma * om)
                    m1, m2 = m1 + om * weight, m2 + om * om * weight
            assert float(got[n]) == pytest.approx(m1 / m2, rel=1e-12)


def test_perfect_copy_reads_zero(probe_set):
    assert blur_per_image(probe_set, probe_set).abs().max() < 1e-3
    assert blur_score(probe_set, probe_set) == pytest.approx(0.0, abs=1e-3)


def test_known_sigma_is_recovered(probe_set):
    assert sweep_scores(probe_set, BLUR_SIGMAS) == pytest.approx(BLUR_SIGMAS, abs=0.02)  # the definition
    for sigma in (1.0, 2.0, 3.0, 4.0):  # an independent sampled kernel
        assert blur_score(scipy_blur(probe_set, sigma), probe_set) == pytest.approx(sigma, abs=0.15)


def test_gain_and_offset_do_not_read_as_blur(probe_set):
    sigmas = (0.0, 0.5, 1.0, 3.0)
    base = sweep_scores(probe_set, sigmas)
    for gain, offset in ((0.5, 0.25), (0.8, 0.1), (-1.0, 1.0)):
        moved = sweep_scores(probe_set, sigmas, lambda b, gain=gain, offset=offset: gain * b + offset)
        assert np.abs(np.subtract(moved, base)).max() < 1e-3, (moved, base)  # float32 rounding


def test_monotone_over_a_sigma_sweep(probe_set):
    scores = sweep_scores(probe_set, np.arange(0, 6.01, 0.25).tolist())
    assert all(a < b for a, b in pairwise(scores)), scores


@pytest.mark.parametrize("name", SETS)
def test_translation_does_not_read_as_blur(name, dsprites_images):
    x = {"dsprites": dsprites_images, "pink": pink_noise(32), "shapes": random_shapes(32)}[name]
    for dy, dx in ((0, 1), (0, 2), (0, 3), (-1, 1)):
        assert abs(blur_score(shift(x, dy, dx), x)) <= 0.15, (dy, dx)
        assert blur_score(gaussian_blur(shift(x, dy, dx), 1.5), x) == pytest.approx(1.5, abs=0.1)


@pytest.mark.parametrize("name", ["dsprites", "shapes"])
def test_sharp_outline_errors_read_about_zero(name, dsprites_images, other_dsprites):
    x = {"dsprites": dsprites_images, "shapes": random_shapes(48)}[name]
    other = {"dsprites": other_dsprites, "shapes": random_shapes(48, seed=3)}[name]
    for label, y in (("dilate", dilate(x)), ("erode", erode(x)), ("another image", other),
                     ("threshold(blur 2)", threshold_blur(x, 2.0))):
        assert abs(blur_score(y, x)) <= 0.25, label
    assert blur_score(gaussian_blur(dilate(x), 2.0), x) == pytest.approx(2.0, abs=0.1)


def test_sharpening_reads_negative(probe_set):
    assert blur_score(unsharp(probe_set), probe_set) < -0.1
    for sigma in (0.5, 2.0):  # antisymmetric: the original against its blur reads −σ
        per_image = blur_per_image(probe_set, gaussian_blur(probe_set, sigma))
        assert float(per_image.median()) == pytest.approx(-sigma, abs=0.02)


def test_collapsed_outputs_read_nan(dsprites_images):
    x = dsprites_images
    mean = x.mean(0, keepdim=True).expand_as(x).clone()
    assert output_variation(mean, x) == pytest.approx(0.0, abs=1e-12) and is_collapsed(mean, x)
    assert output_variation(gaussian_blur(x, 1.0), x) > 0.5 and not is_collapsed(gaussian_blur(x, 1.0), x)
    assert math.isnan(blur_score(mean, x))
    assert all(math.isnan(v) for v in blur_with_se(mean, x))


def test_degenerate_inputs(dsprites_images):
    x = dsprites_images[:8].clone()
    x[0] = 0.5  # a constant original
    per_image = blur_per_image(gaussian_blur(x, 1.0), x)
    assert math.isnan(per_image[0]) and torch.isfinite(per_image[1:]).all()
    assert blur_score(gaussian_blur(x, 1.0), x) == pytest.approx(1.0, abs=0.02)
    flat_outputs = torch.rand(8, 1, 1, 1) * torch.ones_like(x)  # a different constant per image
    assert blur_per_image(flat_outputs, x)[1:].eq(math.inf).all()
    assert blur_per_image(gaussian_blur(x, SIGMA_MAX + 4), x)[1:].eq(math.inf).all()
    assert math.isnan(blur_score(gaussian_blur(x, SIGMA_MAX + 4), x))  # an infinite median is no number
    with pytest.raises(ValueError, match="every original is constant"):
        blur_score(x, torch.zeros_like(x))
    with pytest.raises(ValueError, match="same shape"):
        blur_score(x[:4], x)
    assert math.isnan(sharpness_per_image(x, x)[0]) and torch.isfinite(sharpness_per_image(x, x)[1:]).all()
    assert math.isnan(sharpness_px(torch.zeros_like(x), x))


def test_sharpness_against_the_data(dsprites_images, other_dsprites):
    data, fresh = dsprites_images, other_dsprites
    level = sharpness_px(data, data)
    assert abs(level) < 0.15 and abs(sharpness_px(fresh, data) - level) < 0.1
    sweep = [sharpness_px(gaussian_blur(fresh, s), data) for s in np.arange(0, 6.01, 0.5)]
    assert all(a < b for a, b in pairwise(sweep)), sweep
    for sigma in (1.0, 2.0, 4.0):  # per image against the mean spectrum: ±0.25 px
        assert sharpness_px(gaussian_blur(fresh, sigma), data) == pytest.approx(sigma, abs=0.25)
    assert sharpness_px(shift(fresh, 0, 3), data) == pytest.approx(sharpness_px(fresh, data), abs=0.05)
    noisy = fresh + 0.1 * torch.randn(fresh.shape, generator=torch.Generator().manual_seed(0))
    assert sharpness_px(noisy, data) < level - 0.1  # pixel noise is detail: it reads sharper, not 0
    blurred = gaussian_blur(fresh, 2.0)
    assert sharpness_px(0.5 * blurred + 0.25, data) == pytest.approx(sharpness_px(blurred, data), abs=1e-4)
    with pytest.raises(ValueError, match="shaped like the reference"):
        sharpness_px(fresh[:, :, :32], data)


def _loop_bootstrap(values, rng, num_bootstrap):
    """Oracle: one resample at a time in plain Python."""
    medians = []
    for _ in range(num_bootstrap):
        idx = rng.integers(0, len(values), len(values))
        medians.append(float(np.median([values[i] for i in idx])))
    return float(np.std(medians, ddof=1))


@pytest.mark.slow  # repeated bootstraps over many draws
def test_bootstrap_se(dsprites_images):
    from train.data import dsprites

    def mixed_blur(images):  # a different blur per image (σ uniform in [0.5, 3]), so values spread
        g = torch.Generator().manual_seed(len(images))
        return gaussian_blur(images, 0.5 + 2.5 * torch.rand(len(images), generator=g, dtype=torch.float64))

    small = dsprites_images
    large = dsprites().eval_set(1024, seed=2)[0]
    med_small, se_small = blur_with_se(mixed_blur(small), small, np.random.default_rng(0))
    med_large, se_large = blur_with_se(mixed_blur(large), large, np.random.default_rng(0))
    assert 0 < se_large < se_small
    assert med_small == pytest.approx(blur_score(mixed_blur(small), small))
    values = blur_per_image(mixed_blur(small), small).numpy()
    oracle = _loop_bootstrap(values, np.random.default_rng(7), 200)
    assert bootstrap_median_se(values, np.random.default_rng(7), 200) == pytest.approx(oracle, rel=1e-9)
    s_small = sharpness_with_se(gaussian_blur(small, 3.0), large, np.random.default_rng(0))
    s_large = sharpness_with_se(gaussian_blur(large, 3.0), large, np.random.default_rng(0))
    assert 0 < s_large[1] < s_small[1] and s_small[0] == pytest.approx(3.0, abs=0.3)
    assert math.isnan(bootstrap_median_se([1.0, math.nan]))
    assert math.isnan(bootstrap_median_se([1.0, math.inf, math.inf, math.inf]))  # infinite medians
