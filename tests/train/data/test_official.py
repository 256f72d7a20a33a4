"""The official dSprites file from ``--data-root``: tiny files in the official layout (the grid shrunk
with monkeypatch, as the Shapes3D tests do), the shared cache, and what a wrong file is told.

Image i carries its own index in the bits of its first row, so a round trip can be checked. With
the real file present (``$BETASWEEP_DSPRITES_NPZ`` or ``data/dsprites/`` in the checkout), one more
test measures how far the procedural look-alike is from it, factor by factor.
"""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from train.data import DSprites, OfficialDSprites, get_dataset
from train.data.folders import DatasetNotFoundError
from train.data.official import DatasetFileError

TINY = (1, 3, 2, 2, 2, 3)
FILE = OfficialDSprites.file
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def tiny_arrays(sizes=TINY):
    """The official keys at a shrunk grid: 0/1 images whose first row holds the index's bits."""
    n = int(np.prod(sizes))
    classes = np.stack(np.unravel_index(np.arange(n), sizes), axis=1).astype(np.int64)
    imgs = np.zeros((n, 64, 64), dtype=np.uint8)
    imgs[:, 0, :16] = np.unpackbits(np.arange(n, dtype=">u2").view(np.uint8).reshape(n, 2), axis=1)
    imgs[:, 20:30, 20:30] = 1
    return {"imgs": imgs, "latents_classes": classes, "latents_values": classes.astype(np.float64),
            "metadata": np.array({"latents_sizes": np.array(sizes)}, dtype=object)}  # pickled, as the real one


def write_dsprites(folder, **changes):
    """Write a tiny official-layout file (compressed, as released) into ``folder``; ``changes``
    replace or (with None) drop arrays."""
    arrays = {**tiny_arrays(), **changes}
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, FILE)
    np.savez_compressed(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def index_of(images):
    """The index written in the first row of each image by :func:`tiny_arrays`."""
    bits = images[:, 0, 0, :16].round().to(torch.uint8).numpy()
    return np.packbits(bits, axis=1).view(">u2")[:, 0].astype(np.int64)


def cache_files(root):
    folder = os.path.join(root, ".betasweep-cache")
    return sorted(n for n in os.listdir(folder) if n.endswith(".npy")) if os.path.isdir(folder) else []


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setattr(OfficialDSprites, "factor_sizes", TINY)
    monkeypatch.delenv("BETASWEEP_CACHE_DIR", raising=False)
    return tmp_path


@pytest.mark.parametrize("folder", ["dsprites", "."], ids=["root/dsprites", "root"])
def test_official_file_is_read_from_the_data_root_and_recorded_as_dsprites(tiny, monkeypatch, folder):
    write_dsprites(str(tiny / folder))

    def unpickle(*args, **kwargs):
        raise AssertionError("a downloaded file was unpickled")

    with monkeypatch.context() as patch:
        patch.setattr(pickle, "load", unpickle)
        patch.setattr(pickle, "loads", unpickle)
        data = get_dataset("dsprites", root=str(tiny))
    assert isinstance(data, OfficialDSprites) and data.record_name == "dsprites"
    assert data.factor_names == DSprites.factor_names and data.num_channels == 1
    assert isinstance(data.images, np.memmap) and data.images.shape == (72, 512)  # bit-packed rows
    f = data.sample_factors(50, np.random.default_rng(0))
    images = data.observations(torch.as_tensor(f))
    assert images.shape == (50, 1, 64, 64) and set(images.unique().tolist()) == {0.0, 1.0}
    assert np.array_equal(index_of(images), data.factors_to_index(f))
    assert torch.equal(images[:, 0, 20:30, 20:30], torch.ones(50, 10, 10))
    batch, (eval_images, eval_f) = data.train_batch(8, torch.Generator().manual_seed(0)), data.eval_set(16, seed=1)
    assert batch.shape == (8, 1, 64, 64) and np.array_equal(index_of(eval_images), data.factors_to_index(eval_f))
    assert get_dataset("dsprites").record_name == "dsprites-procedural"  # without a root: the look-alike


def test_the_cache_is_built_once_and_reused_by_another_instance_and_process(tiny, monkeypatch):
    write_dsprites(str(tiny / "dsprites"))
    first = get_dataset("dsprites", root=str(tiny))
    [name] = cache_files(str(tiny))
    path = tiny / ".betasweep-cache" / name
    stamp = path.stat().st_mtime_ns
    from train.data import image_cache

    monkeypatch.setattr(image_cache, "write_atomically", lambda *a: pytest.fail("decompressed again"))
    again = OfficialDSprites(str(tiny))
    assert np.array_equal(np.asarray(again.images), np.asarray(first.images))
    copy = pickle.loads(pickle.dumps(first))  # what Ray ships to a trial: paths, then the cache is mapped
    assert isinstance(copy.images, np.memmap) and len(pickle.dumps(first)) < 10_000
    script = ("import sys, numpy as np\n"
              "from train.data import image_cache\n"
              "from train.data.official import OfficialDSprites\n"
              f"OfficialDSprites.factor_sizes = {TINY}\n"
              "def refuse(*a): raise SystemExit('decompressed again')\n"
              "image_cache.write_atomically = refuse\n"
              "data = OfficialDSprites(sys.argv[1])\n"
              "print(int(np.asarray(data.images).sum()))\n")
    env = {k: v for k, v in os.environ.items() if k != "BETASWEEP_CACHE_DIR"}
    out = subprocess.run([sys.executable, "-c", script, str(tiny)], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == int(np.asarray(first.images, dtype=np.int64).sum())
    assert cache_files(str(tiny)) == [name] and path.stat().st_mtime_ns == stamp


def wrong_order():
    arrays = tiny_arrays()
    classes = arrays["latents_classes"].copy()
    classes[:, [4, 5]] = np.stack(np.unravel_index(np.arange(len(classes)), (1, 3, 2, 2, 3, 2)), 1)[:, [5, 4]]
    return classes  # posX fastest


def object_imgs():
    imgs = np.empty(72, dtype=object)
    imgs[:] = [np.zeros((64, 64), np.uint8)] * 72
    return imgs


@pytest.mark.parametrize("changes,problem", [
    ({"latents_classes": None}, r"holds no array 'latents_classes' \(arrays: imgs, latents_values, metadata\)"),
    ({"imgs": np.zeros((71, 64, 64), np.uint8)},
     r"array 'imgs' is \(71, 64, 64\) uint8, expected \(72, 64, 64\) uint8"),
    ({"imgs": np.zeros((72, 64, 64), np.float32)}, r"array 'imgs' is \(72, 64, 64\) float32, expected .* uint8"),
    ({"latents_classes": np.zeros((72, 6), np.int32)},
     r"array 'latents_classes' is \(72, 6\) int32, expected \(72, 6\) int64"),
    ({"imgs": tiny_arrays()["imgs"] * 255}, r"array 'imgs' holds values other than 0 and 1 \(255 in image 0\)"),
    ({"latents_classes": wrong_order()}, r"'latents_classes' does not follow the factor grid order .*posY fastest\): "
                                         r"row 1 is \[0, 0, 0, 0, 1, 0\], expected \[0, 0, 0, 0, 0, 1\]"),
    ({"imgs": object_imgs()}, r"array 'imgs' holds Python objects \(dtype object\).*allow_pickle=False"),
], ids=["missing-key", "shape", "dtype", "classes-dtype", "not-0-1", "factor-order", "object-array"])
def test_a_file_that_is_not_the_official_release_is_refused_by_name(tiny, monkeypatch, changes, problem):
    path = write_dsprites(str(tiny / "dsprites"), **changes)
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(DatasetFileError, match=f"data_root: {path}: {problem}.*official dSprites file"):
        get_dataset("dsprites", root=str(tiny))
    assert cache_files(str(tiny)) == []  # nothing cached from a refused file


def test_a_missing_file_is_named_when_a_root_is_given(tmp_path):
    (tmp_path / "dsprites").mkdir()
    (tmp_path / "dsprites" / "dsprites.npz").write_bytes(b"")
    expected = f"{tmp_path / 'dsprites'} or in {tmp_path}"
    with pytest.raises(DatasetNotFoundError, match=f"expected {FILE} in {expected}.*dsprites-dataset.*--data-root"):
        get_dataset("dsprites", root=str(tmp_path))
    (tmp_path / FILE).write_bytes(b"<html>not found</html>")
    with pytest.raises(DatasetFileError, match=f"{tmp_path / FILE}: is not an .npz"):
        get_dataset("dsprites", root=str(tmp_path))


OFFICIAL = os.environ.get("BETASWEEP_DSPRITES_NPZ") or os.path.join(REPO, "data", "dsprites", FILE)


@pytest.mark.skipif(not os.path.isfile(OFFICIAL), reason=(
    f"the official dSprites file is absent: put {FILE} at {OFFICIAL} (or set BETASWEEP_DSPRITES_NPZ to "
    f"its path) to measure how far the procedural look-alike is from it (run with -s to see the table)"))
def test_procedural_look_alike_against_the_official_images():
    official = OfficialDSprites(os.path.dirname(OFFICIAL))
    procedural = get_dataset("dsprites")
    factors = procedural.sample_factors(6000, np.random.default_rng(0))
    a = official.observations(factors)[:, 0].bool()
    b = procedural.observations(factors)[:, 0].bool()
    iou = ((a & b).sum((1, 2)) / (a | b).sum((1, 2)).clamp(min=1)).numpy()
    area = (b.sum((1, 2)).float() / a.sum((1, 2)).clamp(min=1)).numpy()
    grid = torch.arange(64.0)
    centre = [torch.stack([(m.float().sum(2) * grid).sum(1), (m.float().sum(1) * grid).sum(1)], 1)
              / m.sum((1, 2)).clamp(min=1)[:, None] for m in (a, b)]
    shift = (centre[1] - centre[0]).norm(dim=1).numpy()
    print("\nprocedural vs official dSprites, IoU of the same factors (6,000 random draws):")
    for k, name in enumerate(procedural.factor_names):
        per_value = [iou[factors[:, k] == v].mean() for v in range(procedural.factor_sizes[k])]
        worst = int(np.argmin(per_value))
        print(f"  {name:12s} mean {np.mean(per_value):.3f}, lowest {per_value[worst]:.3f} at value {worst}")
    shapes = [iou[factors[:, 1] == s].mean() for s in range(3)]
    print("  per shape (square, ellipse, heart): " + ", ".join(f"{v:.3f}" for v in shapes)
          + f"; area ratio procedural/official {np.median(area):.2f}, centroid shift {np.median(shift):.2f} px "
          f"(medians)")
    assert min(shapes) >= 0.5, f"the look-alike is far from the official images: IoU per shape {shapes}"
