"""Shapes3D and MPI3D from tiny files in their official formats; clear errors when they are absent.

The official files hold the full grids (5.9 GB and 12.7 GB), so the tests shrink the class's factor
sizes with monkeypatch and write a file of exactly that many images, with the official keys, dtypes
and layout. Image i encodes its own index and factors in its pixels, so a round trip can be checked.
"""

import pickle
import sys

import numpy as np
import pytest
import torch

from analysis.metrics.codes import LiveCodes
from analysis.metrics.mig import mig
from train.data import MPI3D, DatasetNotFoundError, Shapes3D, get_dataset
from train.data.factor_files import MPI3DToy

try:
    import h5py
except ImportError:  # the optional data extra is not installed: the Shapes3D round trips are skipped
    h5py = None
needs_h5py = pytest.mark.skipif(h5py is None, reason="h5py (pip install 'betasweep[data]') is not installed")

SHAPES3D_TINY = (2, 3, 2, 1, 2, 3)
MPI3D_TINY = (2, 3, 1, 2, 1, 2, 3)
STEP = 40  # factor value k is written as the byte k·STEP


def tiny_images(factor_sizes):
    """(N, 64, 64, 3) uint8: pixel (0, k, 0) holds factor k·STEP, pixels (1, 0..2, 0) the index."""
    n = int(np.prod(factor_sizes))
    images = np.zeros((n, 64, 64, 3), dtype=np.uint8)
    factors = np.stack(np.unravel_index(np.arange(n), factor_sizes), axis=1)  # row-major, last fastest
    images[:, 0, :len(factor_sizes), 0] = factors * STEP
    images[:, 1, :3, 0] = np.stack([np.arange(n) >> 16, (np.arange(n) >> 8) & 255, np.arange(n) & 255], 1)
    images[:, 2:, :, :] = (np.arange(n) % 251)[:, None, None, None]
    return images, factors


def decode(images):
    """Factors and index written by :func:`tiny_images`, read back from rendered float images."""
    pixels = (images[:, 0] * 255).round().long()
    index = (pixels[:, 1, 0] << 16) + (pixels[:, 1, 1] << 8) + pixels[:, 1, 2]
    return pixels[:, 0, :] // STEP, index


@pytest.fixture
def shapes3d_root(tmp_path, monkeypatch, request):
    monkeypatch.setattr(Shapes3D, "factor_sizes", SHAPES3D_TINY)
    images, factors = tiny_images(SHAPES3D_TINY)
    (tmp_path / "3dshapes").mkdir()
    chunked = getattr(request, "param", False)
    with h5py.File(tmp_path / "3dshapes" / "3dshapes.h5", "w") as handle:
        options = {"chunks": (4, 64, 64, 3), "compression": "gzip"} if chunked else {}
        handle.create_dataset("images", data=images, **options)
        handle.create_dataset("labels", data=factors.astype(np.float64))
    return tmp_path


@pytest.fixture
def mpi3d_root(tmp_path, monkeypatch):
    monkeypatch.setattr(MPI3D, "factor_sizes", MPI3D_TINY)
    (tmp_path / "mpi3d_toy").mkdir()
    np.savez(tmp_path / "mpi3d_toy" / "mpi3d_toy.npz", images=tiny_images(MPI3D_TINY)[0])
    return tmp_path


def check_round_trip(data, sizes):
    rng = np.random.default_rng(0)
    f = data.sample_factors(40, rng)
    images = data.observations(f)
    assert images.shape == (40, 3, 64, 64) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1
    got_factors, got_index = decode(images)
    assert np.array_equal(got_factors[:, :len(sizes)].numpy(), f)
    assert np.array_equal(got_index.numpy(), data.factors_to_index(f))
    batch = data.train_batch(8, torch.Generator().manual_seed(0))
    assert batch.shape == (8, 3, 64, 64)
    e1, f1 = data.eval_set(16, seed=0)
    assert np.array_equal(decode(e1)[0][:, :len(sizes)].numpy(), f1)


@needs_h5py
@pytest.mark.parametrize("shapes3d_root,reader", [(False, "memmap"), (True, "Dataset")],
                         ids=["contiguous-memmap", "chunked-gzip-h5py"], indirect=["shapes3d_root"])
def test_shapes3d_round_trip(shapes3d_root, reader):
    data = get_dataset("shapes3d", root=str(shapes3d_root))
    assert data.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert (data.num_channels, data.default_likelihood, data.record_name) == (3, "gaussian", "shapes3d")
    assert type(data.images).__name__ == reader  # mapped when contiguous, read lazily by h5py when chunked
    check_round_trip(data, SHAPES3D_TINY)


def test_mpi3d_round_trip_memory_mapped_and_compressed(mpi3d_root, tmp_path_factory):
    data = get_dataset("mpi3d-toy", root=str(mpi3d_root))
    assert isinstance(data.images, np.memmap) and data.num_examples == int(np.prod(MPI3D_TINY))
    assert data.factor_names[0] == "object_color" and data.factor_names[-1] == "vertical_axis"
    check_round_trip(data, MPI3D_TINY)
    other = tmp_path_factory.mktemp("compressed")  # never rewrite a file that is mapped
    (other / "mpi3d_toy").mkdir()
    np.savez_compressed(other / "mpi3d_toy" / "mpi3d_toy.npz", images=tiny_images(MPI3D_TINY)[0])
    with pytest.warns(UserWarning, match="compressed.*numpy.savez"):
        packed = MPI3DToy(str(other))
    assert not isinstance(packed.images, np.memmap)
    f = data.sample_factors(16, np.random.default_rng(1))
    assert torch.equal(packed.observations(f), data.observations(f))


def test_pickle_reopens_the_file_and_a_metric_runs(mpi3d_root):
    data = pickle.loads(pickle.dumps(get_dataset("mpi3d-toy", root=str(mpi3d_root))))
    assert isinstance(data.images, np.memmap)
    f, codes = LiveCodes(data, lambda x: decode(x)[0].float()).sample(200, np.random.default_rng(0))
    assert mig(codes[:, :len(MPI3D_TINY)], f) > 0.9  # a code that reads the factors off the image


def test_official_sizes_and_order():
    assert Shapes3D.factor_sizes == (10, 10, 10, 8, 4, 15) and int(np.prod(Shapes3D.factor_sizes)) == 480_000
    assert MPI3D.factor_sizes == (6, 6, 2, 3, 3, 40, 40) and int(np.prod(MPI3D.factor_sizes)) == 1_036_800


@pytest.mark.parametrize("name,expected", [("shapes3d", "3dshapes/3dshapes.h5.*3d-shapes"),
                                           ("mpi3d-toy", "mpi3d_toy/mpi3d_toy.npz.*huggingface"),
                                           ("mpi3d-realistic", "mpi3d_realistic.npz"),
                                           ("mpi3d-real", "mpi3d_real.npz")])
def test_missing_files_name_the_file_and_its_source(tmp_path, name, expected):
    with pytest.raises(DatasetNotFoundError, match=f"data_root: .*{expected}.*--data-root"):
        get_dataset(name, root=str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="--data-root"):
        get_dataset(name)


def test_wrong_file_names_the_expected_shape(mpi3d_root, monkeypatch):
    monkeypatch.setattr(MPI3D, "factor_sizes", (2, 3, 1, 2, 1, 2, 4))
    with pytest.raises(DatasetNotFoundError, match=r"'images' is \(72, 64, 64, 3\) uint8, expected \(96,"):
        get_dataset("mpi3d-toy", root=str(mpi3d_root))


@needs_h5py
@pytest.mark.parametrize("name,path", [("shapes3d", "3dshapes/3dshapes.h5"),
                                       ("mpi3d-real", "mpi3d_real/mpi3d_real.npz")])
def test_a_file_in_another_format_is_named(tmp_path, name, path):
    (tmp_path / path).parent.mkdir()
    (tmp_path / path).write_bytes(b"<html>not the dataset</html>")
    with pytest.raises(DatasetNotFoundError, match="is not a.*official download"):
        get_dataset(name, root=str(tmp_path))


def test_missing_h5py_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "3dshapes").mkdir()
    (tmp_path / "3dshapes" / "3dshapes.h5").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"needs h5py.*betasweep\[data\]"):
        get_dataset("shapes3d", root=str(tmp_path))
