"""MNIST and CelebA from tiny fixture folders in the real on-disk formats; clear errors if absent."""

import struct
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from study.data import DatasetNotFoundError, get_dataset


def write_idx(path, array):
    array = np.asarray(array, dtype=np.uint8)
    with open(path, "wb") as handle:
        handle.write(struct.pack(">HBB", 0, 0x08, array.ndim))
        handle.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        handle.write(array.tobytes())


@pytest.fixture
def mnist_root(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("t10k", 10)):
        write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    return tmp_path


@pytest.fixture
def celeba_root(tmp_path):
    base = tmp_path / "celeba"
    images = base / "img_align_celeba"
    images.mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, 7)]
    rng = np.random.default_rng(0)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(images / name)
    attrs = ["5_o_Clock_Shadow", "Smiling"]
    lines = [str(len(names)), " ".join(attrs)]
    lines += [f"{n} {' '.join('1' if (i + j) % 2 else '-1' for j in range(2))}" for i, n in enumerate(names)]
    (base / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (base / "list_eval_partition.txt").write_text(
        "\n".join(f"{n} {0 if i < 4 else 2}" for i, n in enumerate(names)) + "\n")
    return tmp_path


def test_mnist_from_folder(mnist_root):
    data = get_dataset("mnist", root=str(mnist_root))
    assert (data.num_examples, data.num_test, data.num_channels) == (20, 10, 1)
    batch = data.train_batch(8, torch.Generator().manual_seed(0))
    assert batch.shape == (8, 1, 64, 64) and 0 <= batch.min() and batch.max() <= 1
    images, labels = data.eval_set(5)
    assert images.shape == (5, 1, 64, 64) and labels.shape == (5,)
    assert not data.has_factors and data.default_likelihood == "bernoulli"


def test_celeba_from_folder(celeba_root):
    data = get_dataset("celeba", root=str(celeba_root))
    assert (data.num_examples, data.num_test, data.num_channels) == (4, 2, 3)
    assert data.attribute_names == ["5_o_Clock_Shadow", "Smiling"]
    images, labels = data.eval_set(2)
    assert images.shape == (2, 3, 64, 64) and labels.shape == (2, 2)
    assert set(np.unique(labels)) <= {0, 1}
    assert data.train_batch(3, torch.Generator().manual_seed(0)).shape == (3, 3, 64, 64)
    assert data.default_likelihood == "gaussian"


@pytest.mark.parametrize("name,expected", [("mnist", "train-images-idx3-ubyte"),
                                           ("celeba", "list_attr_celeba.txt")])
def test_missing_files_name_what_is_expected(tmp_path, name, expected):
    with pytest.raises(DatasetNotFoundError, match=f"data_root: .*{expected}.*--data-root"):
        get_dataset(name, root=str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="--data-root"):
        get_dataset(name)


def test_show_cli_writes_pngs(tmp_path):
    out = tmp_path / "ds.png"
    done = subprocess.run([sys.executable, "-m", "study.data.show", "textured-dsprites", "--out", str(out),
                           "--n", "16"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for path in (out, tmp_path / "ds-factors.png"):
        image = Image.open(path)
        assert image.size[0] > 100 and np.asarray(image).max() > 0
    assert np.asarray(Image.open(out)).ndim == 3  # RGB
    done = subprocess.run([sys.executable, "-m", "study.data.show", "shapes3d", "--data-root", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "3dshapes.h5" in done.stderr
