"""A decoded image set on disk: one memory-mapped uint8 ``.npy`` per split, built once per node.

Folder datasets (CelebA's JPEGs) would otherwise be decoded for every batch (~60 ms per 128 images
on two threads, ~2,100 img/s: a GPU trial would wait on its data). :func:`cached_images` decodes a split once into an
(N, C, 64, 64) uint8 array; a batch is then a gather of rows, like dSprites'. The trials of a node
map the same file, so the OS page cache holds it once for all of them.

* Key: a hash of the split's file names with their sizes and mtimes, the preprocessing parameters
  (crop, size, ...), the torchvision version and :data:`FORMAT`. A changed, added or removed file,
  another crop or another resize gives another file name, so a stale cache is never read (old ones
  are left in place for trials still mapping them; delete them by hand).
* Where: ``cache_dir`` if given, else ``$BETASWEEP_CACHE_DIR``, else ``<data root>/.betasweep-cache``
  if the data root is writable, else ``$XDG_CACHE_HOME/betasweep`` (``~/.cache/betasweep``) for
  read-only data roots.
* Written atomically: decoded into a temp file in the same folder, then ``os.replace``d into place,
  so a crash mid-write leaves no file under the final name. An exclusive ``flock`` on a side lock
  file makes the trials of a node that start together decode once: the others wait, then map it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)

#: Version of the cache layout; bump it when what a cache holds changes for the same key.
FORMAT = 1
#: Images decoded per call of the decoder while building (bounds the memory of a build).
CHUNK = 1024
CACHE_ENV = "BETASWEEP_CACHE_DIR"


def cache_key(paths: Sequence[str], params: dict) -> str:
    """Hex digest of the files (name, size, mtime in ns, in order) and the preprocessing ``params``."""
    import torchvision

    digest = hashlib.sha256(json.dumps({"format": FORMAT, "torchvision": torchvision.__version__,
                                        "params": params}, sort_keys=True).encode())
    for path in paths:
        st = os.stat(path)
        digest.update(f"{os.path.basename(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _writable_dir(path: str) -> bool:
    """Can a cache folder be created (or written) at ``path``?"""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def cache_folder(root: str, cache_dir: str | None = None) -> str:
    """The folder a dataset under ``root`` caches into (see the module docstring for the order)."""
    chosen = cache_dir or os.environ.get(CACHE_ENV)
    if chosen:
        os.makedirs(chosen, exist_ok=True)
        return chosen
    beside = os.path.join(root, ".betasweep-cache")
    if _writable_dir(beside):
        return beside
    user = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "betasweep")
    os.makedirs(user, exist_ok=True)
    log.info("data root %s is not writable; caching decoded images in %s", root, user)
    return user


@contextlib.contextmanager
def _exclusive(lock_path: str):
    """Hold an exclusive ``flock`` on ``lock_path`` (a no-op where flock is unavailable)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: builders may race, each still writes atomically
        yield
        return
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomically(path: str, shape: tuple[int, ...], count: int,
                     decode: Callable[[np.ndarray], np.ndarray]) -> None:
    """Fill a (count, *shape) uint8 ``.npy`` chunk by chunk with ``decode(indices)``, then rename it
    to ``path``; on any error the temp file is removed and nothing appears at ``path``."""
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".building-", suffix=".npy")
    os.close(fd)
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(count, *shape))
        for start in range(0, count, CHUNK):
            index = np.arange(start, min(start + CHUNK, count))
            out[index[0]:index[-1] + 1] = decode(index)
        out.flush()
        del out
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def cached_images(name: str, sources: Sequence[str], params: dict, shape: tuple[int, ...], count: int,
                  decode: Callable[[np.ndarray], np.ndarray], folder: str) -> np.ndarray:
    """The (count, *shape) uint8 images decoded from ``sources``, memory-mapped read-only from
    ``folder``; if no cache there has their key (:func:`cache_key` of ``sources`` and ``params``),
    they are decoded first with ``decode(indices) -> uint8 array`` and written atomically."""
    path = os.path.join(folder, f"{name}-{cache_key(sources, params)[:20]}.npy")
    if not os.path.exists(path):
        with _exclusive(path + ".lock"):
            if not os.path.exists(path):
                log.info("decoding %d images of %s once into %s", count, name, path)
                write_atomically(path, shape, count, decode)
    images = np.load(path, mmap_mode="r")
    if images.shape != (count, *shape) or images.dtype != np.uint8:
        raise ValueError(f"{path}: holds {images.dtype} {images.shape}, expected uint8 "
                         f"{(count, *shape)}; delete it to rebuild")
    return images
