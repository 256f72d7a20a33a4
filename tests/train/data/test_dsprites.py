"""Procedural dSprites: the official factor grid, order, geometry and determinism."""

import math

import numpy as np
import pytest
import torch

from train.data import DSprites, dsprites, get_dataset
from train.data.dsprites import ORIENTATIONS, SHIFTS, WINDOW, base_sprites


@pytest.fixture(scope="module")
def data():
    return dsprites()


def render(data, shape=0, scale=5, orientation=0, x=16, y=16):
    return data.observations(np.array([[0, shape, scale, orientation, x, y]]))[0, 0].numpy()


def bbox(img):
    ys, xs = np.nonzero(img)
    return xs.min(), xs.max(), ys.min(), ys.max()


def test_factor_sizes_and_count(data):
    assert data.factor_names == ("color", "shape", "scale", "orientation", "posX", "posY")
    assert data.factor_sizes == (1, 3, 6, 40, 32, 32)
    assert data.num_examples == 737_280
    assert (ORIENTATIONS[0], ORIENTATIONS[-1]) == (0.0, pytest.approx(2 * math.pi))


def test_index_factor_round_trip_official_order(data):
    assert data.factors_to_index([[0, 0, 0, 0, 0, 1]]).tolist() == [1]  # posY fastest
    assert data.factors_to_index([[0, 0, 0, 0, 1, 0]]).tolist() == [32]
    assert data.factors_to_index([[0, 1, 0, 0, 0, 0]]).tolist() == [6 * 40 * 32 * 32]
    idx = np.random.default_rng(0).integers(0, 737_280, 1000)
    assert np.array_equal(data.factors_to_index(data.index_to_factors(idx)), idx)


def test_binary_deterministic_and_fixed_eval_set(data):
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    a = data.observations(data.sample_factors(64, rng()))
    b = data.observations(data.sample_factors(64, rng()))
    assert torch.equal(a, b) and a.shape == (64, 1, 64, 64) and a.dtype == torch.float32
    assert set(torch.unique(a).tolist()) <= {0.0, 1.0}
    e1, f1 = data.eval_set(32, seed=0)
    e2, f2 = DSprites().eval_set(32, seed=0)
    assert torch.equal(e1, e2) and np.array_equal(f1, f2)
    assert not torch.equal(data.eval_set(32, seed=1)[0], e1)


def test_square_side_and_centre_follow_scale_and_position(data):
    for scale_index, scale in enumerate(np.linspace(0.5, 1.0, 6)):
        x0, x1, y0, y1 = bbox(render(data, 0, scale_index))
        assert x1 - x0 + 1 == pytest.approx(20 * scale, abs=1)
        assert y1 - y0 + 1 == pytest.approx(20 * scale, abs=1)
    for k in (0, 7, 16, 31):
        pos = k / 31
        x0, x1, y0, y1 = bbox(render(data, 0, 5, 0, x=k, y=31 - k))
        assert (x0 + x1) / 2 == pytest.approx(16 + 32 * pos, abs=1.0)
        assert (y0 + y1) / 2 == pytest.approx(16 + 32 * (1 - pos), abs=1.0)


def test_ellipse_is_wide_and_heart_is_lobes_up(data):
    x0, x1, y0, y1 = bbox(render(data, 1))
    assert (x1 - x0 + 1, y1 - y0 + 1) == (pytest.approx(26, abs=1), pytest.approx(14, abs=1))
    heart = render(data, 2)
    x0, x1, y0, y1 = bbox(heart)
    assert (x1 - x0 + 1, y1 - y0 + 1) == (pytest.approx(20, abs=1.5), pytest.approx(17, abs=1.5))
    top = heart[y0 + 1]
    runs = np.count_nonzero(np.diff(np.concatenate([[0], top, [0]])) == 1)
    assert runs == 2  # two lobes at the top
    bottom = heart[y1]
    assert np.count_nonzero(bottom) <= 3  # the point at the bottom


def test_first_and_last_orientation_identical():
    sprites = base_sprites()
    assert np.array_equal(sprites[:, :, 0], sprites[:, :, -1])
    assert not np.array_equal(sprites[0, 5, 0], sprites[0, 5, 5])


def test_every_factor_tuple_renders_in_chunks(data):
    total = 0
    for start in range(0, data.num_examples, 65_536):
        idx = np.arange(start, min(start + 65_536, data.num_examples))
        images = data.observations(data.index_to_factors(idx))
        assert bool((images.flatten(1).sum(1) > 0).all())
        total += len(images)
    assert total == 737_280


def pixel_by_pixel(factors):
    """The definition, one pixel at a time: image pixel (row, col) is its sprite's window pixel
    (row − shiftY, col − shiftX), black outside the window."""
    sprites = base_sprites()
    out = np.zeros((len(factors), 1, 64, 64), dtype=np.float32)
    for n, (_, shape, scale, orientation, x, y) in enumerate(factors):
        for row in range(64):
            for col in range(64):
                r, c = row - SHIFTS[y], col - SHIFTS[x]
                if 0 <= r < WINDOW and 0 <= c < WINDOW:
                    out[n, 0, row, col] = sprites[shape, scale, orientation, r, c]
    return out


def test_the_canvas_views_render_the_definition(data):
    """Every position (x, y) at least once, plus random factors: the images equal the definition."""
    rng = np.random.default_rng(3)
    factors = data.sample_factors(1024 + 200, rng)
    factors[:1024, 4], factors[:1024, 5] = np.divmod(np.arange(1024), 32)
    assert np.array_equal(data.observations(factors).numpy(), pixel_by_pixel(factors))


def test_no_wrap_around_at_the_borders(data):
    img = render(data, 0, 5, 0, x=31, y=31)
    assert img[:, :8].sum() == 0 and img[:8, :].sum() == 0


def test_train_batch_on_device_and_bad_input(data):
    g = torch.Generator().manual_seed(0)
    batch = data.train_batch(16, g)
    assert batch.shape == (16, 1, 64, 64) and batch.device == data.device
    with pytest.raises(ValueError, match="factors: values out of range"):
        data.observations(np.array([[0, 3, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="dataset: unknown dataset 'dsprite'.*dsprites"):
        get_dataset("dsprite")
