"""SmallNORB from tiny files in the official NORB binary matrix format (grid shrunk by monkeypatch).

Camera 0 of image (category, instance, elevation, azimuth, lighting) is a flat grey of level
5·(its grid index) + 3 (camera 1 the inverse), so a loaded image names the combination it came from.
"""

import os
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from train.data import SmallNORB, get_dataset
from train.data.folders import DatasetNotFoundError
from train.data.official import DatasetFileError
from train.data.smallnorb import CHUNKS, file_name

TINY = (2, 2, 3, 2)  # category, elevation, azimuth, lighting
INSTANCES = 2
GRID = (2, INSTANCES, 2, 3, 2)


def write_matrix(path, array):
    """The NORB binary matrix format: magic, ndim, max(3, ndim) dims, C-ordered data."""
    array = np.ascontiguousarray(array)
    magic = {np.dtype(np.uint8): 0x1E3D4C55, np.dtype(np.int32): 0x1E3D4C54}[array.dtype]
    dims = list(array.shape) + [1] * (3 - array.ndim)
    with open(path, "wb") as handle:
        handle.write(struct.pack(f"<ii{len(dims)}i", magic, array.ndim, *dims))
        handle.write(array.astype(array.dtype.newbyteorder("<")).tobytes())


def write_norb(folder, side=96, edit=None):
    """Training holds instance 1, testing instance 0, rows shuffled; ``edit(chunk, arrays)`` may
    change a chunk's (dat, cat, info) before writing."""
    os.makedirs(folder, exist_ok=True)
    labels = np.stack(np.unravel_index(np.arange(int(np.prod(GRID))), GRID), axis=1)
    for chunk, name in enumerate(CHUNKS):
        rows = labels[labels[:, 1] == 1 - chunk]
        rows = rows[np.random.default_rng(chunk).permutation(len(rows))]
        level = (5 * np.ravel_multi_index(rows.T, GRID) + 3).astype(np.uint8)
        dat = np.empty((len(rows), 2, side, side), dtype=np.uint8)
        dat[:, 0], dat[:, 1] = level[:, None, None], 255 - level[:, None, None]
        info = np.column_stack([rows[:, 1], rows[:, 2], 2 * rows[:, 3], rows[:, 4]]).astype(np.int32)
        arrays = [dat, rows[:, 0].astype(np.int32), info]
        if edit:
            edit(chunk, arrays)
        for part, array in zip(("dat", "cat", "info"), arrays, strict=True):
            write_matrix(os.path.join(folder, file_name(name, part)), array)


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setattr(SmallNORB, "factor_sizes", TINY)
    monkeypatch.setattr(SmallNORB, "instances", INSTANCES)
    monkeypatch.delenv("BETASWEEP_CACHE_DIR", raising=False)
    return tmp_path


def decode(images):
    """(grid combinations) of flat grey images written by :func:`write_norb`."""
    level = (images[:, 0] * 255).round().long()
    assert bool((level == level[:, :1, :1]).all())  # flat: the resize keeps a constant image
    return np.stack(np.unravel_index(((level[:, 0, 0] - 3) // 5).numpy(), GRID), axis=1)


def test_factors_instances_and_cache(tiny):
    write_norb(str(tiny / "small_norb"))
    data = get_dataset("smallnorb", root=str(tiny))
    assert data.factor_names == ("category", "elevation", "azimuth", "lighting") and data.record_name == "smallnorb"
    assert data.num_examples == 48 and data.images.shape == (48, 1, 64, 64)
    f = data.sample_factors(200, np.random.default_rng(0))
    got = decode(data.observations(f))
    assert np.array_equal(got[:, [0, 2, 3, 4]], f)  # the instance is nuisance, the rest the factors
    assert set(got[:, 1]) == {0, 1}
    assert torch.equal(data.observations(f), data.observations(f))  # same factors, same instances
    images, labels = data.eval_set(32, seed=3)
    assert torch.equal(images, data.eval_set(32, seed=3)[0]) and np.array_equal(decode(images)[:, [0, 2, 3, 4]], labels)
    batch = data.train_batch(16, torch.Generator().manual_seed(0))
    assert batch.shape == (16, 1, 64, 64)
    assert torch.equal(batch, data.train_batch(16, torch.Generator().manual_seed(0)))


def test_camera_0_resized_with_lanczos_as_disentanglement_lib(tiny):
    rng = np.random.default_rng(1)

    def noisy(chunk, arrays):
        arrays[0][:, 0] = rng.integers(0, 256, arrays[0][:, 0].shape)

    write_norb(str(tiny), edit=noisy)  # the files directly in the root
    data = get_dataset("smallnorb", root=str(tiny))
    dat = np.fromfile(tiny / file_name(CHUNKS[0], "dat"), dtype=np.uint8, offset=24).reshape(24, 2, 96, 96)
    info = np.fromfile(tiny / file_name(CHUNKS[0], "info"), dtype="<i4", offset=20).reshape(24, 4)
    cat = np.fromfile(tiny / file_name(CHUNKS[0], "cat"), dtype="<i4", offset=20)
    row = np.ravel_multi_index((cat[0], info[0, 0], info[0, 1], info[0, 2] // 2, info[0, 3]), GRID)
    expected = np.asarray(Image.fromarray(dat[0, 0]).resize((64, 64), Image.Resampling.LANCZOS))
    assert np.array_equal(data.images[row, 0], expected)


def missing_row(chunk, arrays):
    if chunk == 0:
        arrays[2][0] = arrays[2][1]  # a duplicate combination (and so one missing)
        arrays[1][0] = arrays[1][1]


@pytest.mark.parametrize("edit,bad_file,problem", [
    (lambda c, a: a.__setitem__(0, a[0][:, :1]), "training-dat", r"is a \(24, 1, 96, 96\) uint8 matrix, expected "
                                                                 r"\(24, 2, 96, 96\) uint8"),
    (lambda c, a: a.__setitem__(2, a[2][:, :3]), "training-info", r"is a \(24, 3\) int32 matrix, expected \(24, 4\)"),
    (lambda c, a: a[2].__setitem__((0, 2), 3), "training-info", r"holds an odd azimuth"),
    (lambda c, a: a[2].__setitem__((0, 3), 7), "training-info", r"lighting 7 at row 0 is outside 0…1"),
    (lambda c, a: a[1].__setitem__(0, 9), "training-cat", r"category 9 at row 0 is outside 0…1"),
    (missing_row, "training-info", r"and .*testing-info.*: the labels do not cover the grid 2×2×2×3×2 once each: "
                                   r"1 combinations missing, 1 repeated"),
], ids=["dat-shape", "info-shape", "odd-azimuth", "lighting-range", "category-range", "grid-coverage"])
def test_wrong_files_are_refused_by_name(tiny, edit, bad_file, problem):
    write_norb(str(tiny / "small_norb"), edit=edit)
    with pytest.raises(DatasetFileError, match=f"data_root: [^ ]*{bad_file}.mat.*{problem}.*official SmallNORB"):
        get_dataset("smallnorb", root=str(tiny))


def test_wrong_magic_and_truncated_data_are_refused(tiny):
    write_norb(str(tiny / "small_norb"))
    path = tiny / "small_norb" / file_name(CHUNKS[1], "dat")
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(DatasetFileError, match=r"testing-dat.mat: holds 442358 data bytes, its header says "
                                               r"\(24, 2, 96, 96\) uint8 \(442368 bytes\)"):
        get_dataset("smallnorb", root=str(tiny))
    path.write_bytes(struct.pack("<i", 0x1E3D4C51) + data[4:])
    with pytest.raises(DatasetFileError, match=r"testing-dat.mat: magic number 0x1e3d4c51 is not a NORB byte"):
        get_dataset("smallnorb", root=str(tiny))


def test_missing_files_are_named_with_a_gunzip_hint(tmp_path):
    (tmp_path / "small_norb").mkdir()
    (tmp_path / "small_norb" / (file_name(CHUNKS[0], "dat") + ".gz")).write_bytes(b"")
    with pytest.raises(DatasetNotFoundError, match=f"expected {file_name(CHUNKS[0], 'dat')}.*in {tmp_path}/small_norb"
                                                   r".*as \.gz: gunzip them.*ylclab"):
        get_dataset("smallnorb", root=str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="--data-root"):
        get_dataset("smallnorb")


def test_official_sizes():
    assert SmallNORB.factor_sizes == (5, 9, 18, 6) and SmallNORB.instances == 10
    assert int(np.prod(SmallNORB.factor_sizes)) * SmallNORB.instances == 48_600
