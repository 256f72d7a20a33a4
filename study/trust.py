"""The study folder's trust boundary: ``--resume`` loads Python objects from it.

Resuming a study unpickles what Ray Tune and the study saved in ``<root>/<study>/tune``:
``tuner.pkl``, the cloudpickled entries of ``experiment_state-*.json`` and
``search_gen_state-*.json``, each trial's ``params.pkl``, the searcher's and the scheduler's state.
Loading a pickle runs code, so whoever can write that folder can run code as the user who resumes
it. No format change of the study's own state would close that (Tune's files stay pickles), so the
folder is written and read behind one boundary instead:

* written private: the study folder is created 0700; the searcher's and the scheduler's state are
  written 0600 (:func:`dump_private`), atomically.
* read only if nobody else could have written it (:func:`check_study_folder`, before
  ``Tuner.restore``; :func:`load_trusted` again at each of the study's own unpickling): the study
  folder, every folder and file under its ``tune`` folder, owned by the user resuming (or root), no
  group or other write bit, no symbolic link; the folder above the study not writable by others
  (unless sticky, as /tmp). Anything else is refused with :class:`UntrustedState`, naming the path.

On a shared file system every node must therefore run as the same user (Ray's image does: ``ray``)
with a umask that gives no group write (022 or 077).
"""

from __future__ import annotations

import os
import pickle
import stat

from study.config import ConfigError

STATE_DIR = "tune"


class UntrustedState(ConfigError):
    """Saved state that someone other than the user resuming could have written: not loaded."""


def _check(path: str, st: os.stat_result) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise UntrustedState(f"resume: {path} is a symbolic link; the study's saved state is loaded only "
                             "from real files the resuming user owns")
    if st.st_uid not in (os.geteuid(), 0):
        raise UntrustedState(f"resume: {path} belongs to uid {st.st_uid}, not to you (uid {os.geteuid()}): "
                             "its pickled state could run another user's code; resume as its owner")
    if st.st_mode & 0o022:
        raise UntrustedState(f"resume: {path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):o}); "
                             f"if nobody else wrote it, run `chmod -R go-w {path}` and resume again")


def check_study_folder(study_dir: str) -> None:
    """Refuse (:class:`UntrustedState`) a study folder whose saved state another user could have
    written; see the module's docstring for the rules."""
    parent = os.path.dirname(os.path.abspath(study_dir))
    st = os.stat(parent)
    if st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
        raise UntrustedState(f"resume: {parent} (the root above the study) is writable by anyone; "
                             "a study there could have been replaced; move it to a folder of yours")
    _check(study_dir, os.lstat(study_dir))
    for entry in sorted(os.listdir(study_dir)):  # tune, and a later stage's tune-2, ... (study.extend)
        if entry == STATE_DIR or entry.startswith(f"{STATE_DIR}-"):
            _check_tree(os.path.join(study_dir, entry))


def _check_tree(state: str) -> None:
    _check(state, os.lstat(state))
    for base, dirs, files in os.walk(state):
        for name in dirs + files:
            path = os.path.join(base, name)
            _check(path, os.lstat(path))


def dump_private(obj, path: str) -> None:
    """Pickle ``obj`` to ``path``: readable and writable by its owner only (0600 from creation), replaced atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    if os.path.lexists(tmp):
        os.remove(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        pickle.dump(obj, handle)
    os.replace(tmp, path)


def load_trusted(path: str):
    """Unpickle ``path`` only if it is a file of the user's (or root's) that nobody else may write."""
    _check(path, os.lstat(path))
    with open(path, "rb") as handle:
        return pickle.load(handle)
