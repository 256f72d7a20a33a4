"""MNIST and CelebA from tiny fixture folders in the real on-disk formats; clear errors if absent."""

import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from train.data import DatasetNotFoundError, get_dataset


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
    done = subprocess.run([sys.executable, "-m", "train.data.show", "textured-dsprites", "--out", str(out),
                           "--n", "16"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for path in (out, tmp_path / "ds-factors.png"):
        image = Image.open(path)
        assert image.size[0] > 100 and np.asarray(image).max() > 0
    assert np.asarray(Image.open(out)).ndim == 3  # RGB
    done = subprocess.run([sys.executable, "-m", "train.data.show", "shapes3d", "--data-root", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "3dshapes.h5" in done.stderr


def decoded(data, split):
    """Every image of a split decoded from its JPEG (the uncached path)."""
    return data.decode(split, np.arange(len(data.files[split])))


def cache_files(folder):
    return sorted(p.name for p in folder.glob("*.npy"))


def test_celeba_cache_is_built_once_and_equals_the_decoded_images(celeba_root, tmp_path, monkeypatch):
    from train.data.folders import CelebA

    cache = tmp_path / "cache"
    first = CelebA(str(celeba_root), cache_dir=str(cache))
    assert len(cache_files(cache)) == 2  # train and test
    uncached = CelebA(str(celeba_root), cache=False)
    expected = {split: decoded(uncached, split) for split in ("train", "test")}
    for split in ("train", "test"):
        assert torch.equal(torch.from_numpy(np.array(first.cache[split])), expected[split])
    eval_images, eval_labels = uncached.eval_set(2)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(CelebA, "decode", no_decoding)
    again = CelebA(str(celeba_root), cache_dir=str(cache))
    assert isinstance(again.cache["train"], np.memmap)
    index = np.array([3, 0, 3, 1])
    assert torch.equal(again._images("train", index), expected["train"][index].float() / 255)
    images, labels = again.eval_set(2)
    assert torch.equal(images, eval_images) and np.array_equal(labels, eval_labels)
    assert again.train_batch(3, torch.Generator().manual_seed(0)).shape == (3, 3, 64, 64)


def test_celeba_cache_is_rebuilt_when_a_file_or_the_crop_changes(celeba_root, tmp_path):
    from train.data.folders import CelebA

    cache = tmp_path / "cache"
    CelebA(str(celeba_root), cache_dir=str(cache))
    before = set(cache_files(cache))
    image = celeba_root / "celeba" / "img_align_celeba" / "000002.jpg"  # a train image
    Image.fromarray(np.zeros((218, 178, 3), dtype=np.uint8)).save(image)
    changed = CelebA(str(celeba_root), cache_dir=str(cache))
    after = set(cache_files(cache))
    assert len(after - before) == 1 and next(iter(after - before)).startswith("celeba-train-")
    assert int(np.asarray(changed.cache["train"][1]).max()) == 0  # the black image, not the old one
    cropped = CelebA(str(celeba_root), cache_dir=str(cache), crop=100)
    assert len(set(cache_files(cache)) - after) == 2
    assert torch.equal(torch.from_numpy(np.array(cropped.cache["test"])), decoded(cropped, "test"))
    assert not torch.equal(torch.from_numpy(np.array(cropped.cache["test"])),
                           torch.from_numpy(np.array(changed.cache["test"])))


def test_a_crash_mid_write_leaves_no_cache_file(celeba_root, tmp_path, monkeypatch):
    from train.data import image_cache
    from train.data.folders import CelebA

    monkeypatch.setattr(image_cache, "CHUNK", 2)  # the train split (4 images) is written in two chunks
    real, calls = CelebA.decode, []

    def crash_on_second_chunk(self, split, index):
        calls.append(split)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed mid-write")
        return real(self, split, index)

    monkeypatch.setattr(CelebA, "decode", crash_on_second_chunk)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        CelebA(str(celeba_root), cache_dir=str(cache))
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []
    monkeypatch.setattr(CelebA, "decode", real)
    data = CelebA(str(celeba_root), cache_dir=str(cache))
    assert torch.equal(torch.from_numpy(np.array(data.cache["train"])), decoded(data, "train"))


def test_cache_goes_beside_the_data_else_to_the_user_cache(celeba_root, tmp_path, monkeypatch):
    from train.data.image_cache import CACHE_ENV, cache_folder

    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder(str(celeba_root)) == str(celeba_root / ".betasweep-cache")
    read_only = str(tmp_path / "ro")  # a read-only mount: no folder can be created in it (even by root)
    makedirs = os.makedirs

    def refuse_under_read_only(path, *args, **kwargs):
        if str(path).startswith(read_only):
            raise PermissionError(30, "Read-only file system", path)
        return makedirs(path, *args, **kwargs)

    monkeypatch.setattr(os, "makedirs", refuse_under_read_only)
    assert cache_folder(read_only) == str(tmp_path / "xdg" / "betasweep")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert cache_folder(str(celeba_root)) == str(tmp_path / "env")
    assert cache_folder(str(celeba_root), str(tmp_path / "arg")) == str(tmp_path / "arg")


def test_mnist_cache_holds_the_resized_digits(mnist_root, tmp_path, monkeypatch):
    from train.data.folders import MNIST

    cache = tmp_path / "cache"
    uncached = MNIST(str(mnist_root), cache=False)
    expected = uncached.decode("train", np.arange(20))
    index = np.array([5, 0, 19])
    exact = torch.nn.functional.interpolate(uncached.data["train"][index].unsqueeze(1).float() / 255, size=(64, 64),
                                            mode="bilinear", align_corners=False)
    batch = uncached._images("train", index)
    assert (batch - exact).abs().max() <= 0.5 / 255 + 1e-6  # the bilinear resize, rounded to uint8
    MNIST(str(mnist_root), cache_dir=str(cache))
    assert len(cache_files(cache)) == 2
    monkeypatch.setattr(MNIST, "decode", lambda *a: pytest.fail("decoded again"))
    again = MNIST(str(mnist_root), cache_dir=str(cache))
    assert torch.equal(torch.from_numpy(np.array(again.cache["train"])), expected)
    assert torch.equal(again._images("train", index), batch)
