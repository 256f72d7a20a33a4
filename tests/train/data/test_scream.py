"""scream-dSprites from a tiny official dSprites file and a stand-in "scream.jpg": the painting is
prepared and the sprite drawn as disentanglement_lib does."""

import numpy as np
import pytest
import torch
from PIL import Image

from tests.train.data.test_official import TINY, write_dsprites
from train.data import OfficialDSprites, ScreamDSprites, get_dataset
from train.data.folders import DatasetNotFoundError
from train.data.official import DatasetFileError


def write_painting(path, size=(300, 400)):
    """A random RGB JPEG of ``size`` (width, height), portrait like the painting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def root(monkeypatch, tmp_path):
    monkeypatch.setattr(OfficialDSprites, "factor_sizes", TINY)
    monkeypatch.delenv("BETASWEEP_CACHE_DIR", raising=False)
    write_dsprites(str(tmp_path / "dsprites"))
    write_painting(tmp_path / "scream" / "scream.jpg")
    return tmp_path


def test_painting_and_sprite_as_disentanglement_lib(root):
    data = get_dataset("scream-dsprites", root=str(root))
    assert data.record_name == "scream-dsprites" and data.factor_sizes == TINY
    assert (data.num_channels, data.default_likelihood) == (3, "gaussian")
    with Image.open(root / "scream" / "scream.jpg") as image:
        image.thumbnail((350, 274))  # disentanglement_lib passes (350, 274, 3); current Pillow takes 2 numbers
        expected = np.array(image) / 255.0
    assert expected.shape == (274, 205, 3)
    assert torch.allclose(data._texture, torch.from_numpy(expected.transpose(2, 0, 1)).float())
    f = data.sample_factors(24, np.random.default_rng(0))
    mask = OfficialDSprites(str(root)).observations(f)[:, 0].bool()
    generator = torch.Generator().manual_seed(5)
    image = data.observations(f, generator=generator)
    background = data.paint(torch.zeros(len(f), 1, 64, 64), torch.Generator().manual_seed(5))
    assert torch.equal(image, torch.where(mask[:, None], 1 - background, background))
    assert torch.equal(data.observations(f), data.observations(f))  # without a generator: a pure function
    assert data.train_batch(4, torch.Generator().manual_seed(0)).shape == (4, 3, 64, 64)
    images, labels = data.eval_set(8, seed=1)
    assert images.shape == (8, 3, 64, 64) and labels.shape == (8, 6) and 0 <= images.min() and images.max() <= 1


def test_missing_or_unusable_painting_is_named(root):
    (root / "scream" / "scream.jpg").unlink()
    with pytest.raises(DatasetNotFoundError, match=f"expected scream.jpg in {root}/scream or in {root}.*The_Scream"):
        get_dataset("scream-dsprites", root=str(root))
    write_painting(root / "scream.jpg", size=(120, 60))
    with pytest.raises(DatasetFileError, match=r"scream.jpg: is 120×60 px after the thumbnail.*more than 64 px"):
        get_dataset("scream-dsprites", root=str(root))
    (root / "scream.jpg").write_bytes(b"<html>not found</html>")
    with pytest.raises(DatasetFileError, match=r"scream.jpg: is not a readable image"):
        get_dataset("scream-dsprites", root=str(root))


def test_the_official_dsprites_file_is_required(tmp_path):
    write_painting(tmp_path / "scream" / "scream.jpg")
    with pytest.raises(DatasetNotFoundError, match=f"expected {OfficialDSprites.file} in {tmp_path}/dsprites"):
        get_dataset("scream-dsprites", root=str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="--data-root"):
        get_dataset("scream-dsprites")


def test_registered_with_the_factors_of_dsprites():
    assert ScreamDSprites.name == "scream-dsprites" and ScreamDSprites.factor_names == OfficialDSprites.factor_names
