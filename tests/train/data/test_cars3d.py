"""Cars3D from tiny ``.mat`` files in the official layout (``cars/``, one file per car, variable ``im``
of (side, side, 3, 24, 4) uint8), with the number of cars shrunk by monkeypatch.

Render (azimuth a, elevation e) of car c is flat: red 10·a + e, green 50·c + 7, blue 255 − red, so a
loaded image names where it came from.
"""

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from train.data import Cars3D, get_dataset
from train.data.folders import DatasetNotFoundError
from train.data.official import DatasetFileError

CARS = 3
SIDE = 16


def car(c, side=SIDE):
    im = np.zeros((side, side, 3, 24, 4), dtype=np.uint8)
    red = 10 * np.arange(24)[:, None] + np.arange(4)[None, :]
    im[:, :, 0], im[:, :, 1], im[:, :, 2] = red, 50 * c + 7, 255 - red
    return im


def write_cars(folder, count=CARS):
    folder.mkdir(parents=True, exist_ok=True)
    for c in range(count):
        savemat(folder / f"car_{c + 1:03d}_mesh.mat", {"im": car(c)})
    return folder


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setattr(Cars3D, "factor_sizes", (4, 24, CARS))
    monkeypatch.delenv("BETASWEEP_CACHE_DIR", raising=False)
    return tmp_path


def decode(images):
    """(elevation, azimuth, car) of images written by :func:`car`."""
    rgb = (images[:, :, 0, 0] * 255).round().long().numpy()
    return np.stack([rgb[:, 0] % 10, rgb[:, 0] // 10, (rgb[:, 1] - 7) // 50], axis=1)


@pytest.mark.parametrize("inside", [True, False], ids=["root/cars", "root is cars"])
def test_factors_order_and_cache(tiny, inside):
    folder = write_cars(tiny / "cars")
    data = get_dataset("cars3d", root=str(tiny if inside else folder))
    assert data.factor_names == ("elevation", "azimuth", "object") and data.record_name == "cars3d"
    assert data.images.shape == (4 * 24 * CARS, 3, 64, 64) and data.num_channels == 3
    f = data.sample_factors(300, np.random.default_rng(0))
    images = data.observations(torch.as_tensor(f))
    assert images.shape == (300, 3, 64, 64) and np.array_equal(decode(images), f)
    images, labels = data.eval_set(20, seed=2)
    assert np.array_equal(decode(images), labels)


def test_renders_resized_with_lanczos_as_disentanglement_lib(tiny):
    rng = np.random.default_rng(0)
    folder = tiny / "cars"
    folder.mkdir()
    ims = [rng.integers(0, 256, (SIDE, SIDE, 3, 24, 4), dtype=np.uint8) for _ in range(CARS)]
    for c, im in enumerate(ims):
        savemat(folder / f"car_{c:03d}.mat", {"im": im})
    data = get_dataset("cars3d", root=str(tiny))
    elevation, azimuth, c = 3, 17, 2
    expected = np.array(Image.fromarray(np.ascontiguousarray(ims[c][:, :, :, azimuth, elevation]))
                          .resize((64, 64), Image.Resampling.LANCZOS))
    got = data.observations(np.array([[elevation, azimuth, c]]))[0]
    assert torch.equal((got * 255).round().to(torch.uint8), torch.from_numpy(expected).permute(2, 0, 1))


def test_wrong_files_are_refused_by_name(tiny):
    folder = write_cars(tiny / "cars", count=CARS - 1)
    with pytest.raises(DatasetFileError, match=f"{folder}: holds 2 .mat files, expected 3 \\(one per car model\\)"):
        get_dataset("cars3d", root=str(tiny))
    savemat(folder / "car_003_mesh.mat", {"images": car(0)})
    with pytest.raises(DatasetFileError, match=r"car_003_mesh.mat: holds no variable 'im' \(variables: images\)"):
        get_dataset("cars3d", root=str(tiny))
    savemat(folder / "car_003_mesh.mat", {"im": car(0)[..., :3]})
    with pytest.raises(DatasetFileError, match=r"car_003_mesh.mat: variable 'im' is \(16, 16, 3, 24, 3\) uint8, "
                                               r"expected \(16, 16, 3, 24, 4\) uint8"):
        get_dataset("cars3d", root=str(tiny))
    savemat(folder / "car_003_mesh.mat", {"im": car(0).astype(np.float64)})
    with pytest.raises(DatasetFileError, match=r"'im' is \(16, 16, 3, 24, 4\) float64"):
        get_dataset("cars3d", root=str(tiny))
    (folder / "car_003_mesh.mat").write_bytes(b"<html>not found</html>")
    with pytest.raises(DatasetFileError, match=r"car_003_mesh.mat: is not a readable MATLAB v5 file"):
        get_dataset("cars3d", root=str(tiny))
    assert not list((tiny / ".betasweep-cache").glob("*.npy"))


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=f"expected a folder {tmp_path}/cars of 183 .mat files.*scottreed"):
        get_dataset("cars3d", root=str(tmp_path))
