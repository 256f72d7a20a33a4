"""dSprites variants: 3 channels in [0, 1], the dSprites sprite where dSprites puts it, and the
nuisance (colour, noise, texture crop) drawn as disentanglement_lib does, reproducibly per seed."""

import numpy as np
import pytest
import torch

from analysis.metrics.codes import LiveCodes
from analysis.metrics.mig import mig
from train.data import DATASETS, dsprites, get_dataset
from train.data.variants import TEXTURE_SIZE, texture

NAMES = ("color-dsprites", "noisy-dsprites", "textured-dsprites")


@pytest.fixture(scope="module", params=NAMES)
def data(request):
    return get_dataset(request.param)


def factors(n=32, seed=3):
    return dsprites().sample_factors(n, np.random.default_rng(seed))


def seeded(seed=7):
    return torch.Generator().manual_seed(seed)


def test_registered_procedural_and_same_factor_grid(data):
    assert data.name in DATASETS and data.record_name == f"{data.name}-procedural"
    assert (data.num_channels, data.default_likelihood, data.has_factors) == (3, "gaussian", True)
    assert data.factor_names == dsprites().factor_names and data.factor_sizes == dsprites().factor_sizes
    images = data.observations(factors())
    assert images.shape == (32, 3, 64, 64) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1


def test_sprite_is_where_dsprites_puts_it(data):
    f = factors()
    mask = dsprites().observations(f)[:, 0].bool()
    painted = data.observations(f, generator=seeded())
    background = data.paint(torch.zeros(len(f), 1, 64, 64), seeded())
    assert torch.equal((painted != background).any(dim=1), mask)


def test_painting_rules_of_disentanglement_lib():
    f = factors(64)
    mask = dsprites().observations(f)[:, 0].bool()
    colour = get_dataset("color-dsprites").observations(f)
    sprite_rgb = colour.permute(0, 2, 3, 1)[mask]  # (pixels, 3)
    assert 0.5 <= sprite_rgb.min() and sprite_rgb.max() < 1 and colour.permute(0, 2, 3, 1)[~mask].max() == 0
    per_image = colour.amax(dim=(2, 3))  # each image has one colour: its channel maxima
    assert torch.allclose(colour, colour.bool() * per_image[:, :, None, None])
    noisy = get_dataset("noisy-dsprites").observations(f)
    assert bool((noisy.permute(0, 2, 3, 1)[mask] == 1).all()) and noisy.permute(0, 2, 3, 1)[~mask].max() < 1
    textured = get_dataset("textured-dsprites")
    background = textured.paint(torch.zeros(len(f), 1, 64, 64), seeded())
    image = textured.observations(f, generator=seeded())
    expected = torch.where(mask[:, None], 1 - background, background)
    assert torch.equal(image, expected)


def test_textured_background_is_a_shifted_crop_of_the_texture():
    data = get_dataset("textured-dsprites")
    tex = torch.from_numpy(texture())
    assert tex.shape == (3, TEXTURE_SIZE, TEXTURE_SIZE) and tex.min() == 0 and tex.max() == 1
    background = data.paint(torch.zeros(4, 1, 64, 64), seeded())
    generator = seeded()
    top, left = (torch.randint(0, TEXTURE_SIZE - 64, (4,), generator=generator) for _ in range(2))
    shift = torch.rand((4, 3, 1, 1), generator=generator)
    for i in range(4):
        crop = tex[:, top[i]:top[i] + 64, left[i]:left[i] + 64]
        assert torch.allclose(background[i], (crop + shift[i]) / 2)
    assert 0 <= background.min() and background.max() < 1


def test_nuisance_reproducible_and_independent_per_sample(data):
    same = np.repeat(factors(1), 8, axis=0)
    images = data.observations(same)
    assert torch.equal(images, data.observations(same))  # no generator: a pure function of the factors
    assert all(not torch.equal(images[0], images[i]) for i in range(1, 8))  # same sprite, new nuisance
    assert not torch.equal(data.observations(same, seeded(1)), data.observations(same, seeded(2)))
    e1, f1 = data.eval_set(16, seed=0)
    e2, f2 = type(data)().eval_set(16, seed=0)
    assert torch.equal(e1, e2) and np.array_equal(f1, f2)
    assert np.array_equal(f1, dsprites().eval_set(16, seed=0)[1])  # dSprites' eval factors
    assert not torch.equal(data.eval_set(16, seed=1)[0], e1)
    b1, b2 = data.train_batch(8, seeded(0)), data.train_batch(8, seeded(0))
    assert torch.equal(b1, b2) and b1.shape == (8, 3, 64, 64)
    assert not torch.equal(b1, data.train_batch(8, seeded(1)))


def test_a_factor_metric_runs_unchanged(data):
    def represent(images):  # a crude code: the mean colour and the intensity-weighted centre
        grid = torch.arange(64.0)
        grey = images.mean(1)
        mass = grey.sum((1, 2))
        centre = [(grey.sum(1) * grid).sum(1) / mass, (grey.sum(2) * grid).sum(1) / mass]
        return torch.cat([images.mean((2, 3)), torch.stack(centre, 1)], 1)

    f, codes = LiveCodes(data, represent).sample(256, np.random.default_rng(0))
    assert codes.shape == (256, 5) and f.shape == (256, 6)
    assert 0 <= mig(codes, f) <= 1
