"""One driver per study: a lock file in the study folder (``<root>/<study>/driver.lock``, so on a
cluster it lives on the shared root), taken before the driver touches Ray, MLflow or Optuna.

The lock is a file holding the driver's pid, host and start time, published atomically (written
under a temporary name, then hard-linked into place: it appears whole, or the link fails because
another driver's lock is there) and held with ``fcntl.flock`` for the driver's life. A second
driver on the same study is refused with :class:`StudyLocked`, naming the holder. A lock whose
driver is gone (killed with SIGKILL: the file stays, but the kernel released its flock) is taken
over with a warning when the holder ran on this host (flock free, or its pid no longer alive); a
lock from another host whose flock is free is refused, naming the file to delete if that driver is
gone (a shared file system may not carry flocks between hosts). Released on exit (the file goes).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
import socket

from study.config import ConfigError

log = logging.getLogger("betasweep")

LOCK_FILE = "driver.lock"


class StudyLocked(ConfigError):
    """Another driver runs this study; the message names it (pid, host, since when)."""


def _alive(pid) -> bool:
    """Is a process with this pid alive on this host? (False for no or a nonsense pid.)"""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(info: dict) -> str:
    return f"pid {info.get('pid', '?')} on host {info.get('host', '?')} since {info.get('since', '?')}"


def _missing_dirs(path: str) -> list[str]:
    """``path`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while path and not os.path.exists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


class StudyLock:
    """The lock of the study in ``study_dir``: :meth:`acquire` or :class:`StudyLocked`;
    :meth:`release` (also as a context manager). Folders created only to hold the lock are
    removed again on release if the study left nothing in them (a refused study leaves no trace)."""

    def __init__(self, study_dir: str, name: str | None = None):
        self.study_dir = os.path.abspath(study_dir)
        self.name = name or os.path.basename(self.study_dir)
        self.path = os.path.join(self.study_dir, LOCK_FILE)
        self.fd: int | None = None
        self.info = {"pid": os.getpid(), "host": socket.gethostname(),
                     "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
        self._created: list[str] = []

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        self._created = _missing_dirs(self.study_dir)
        try:
            os.makedirs(self.study_dir, mode=0o700, exist_ok=True)
            for _ in range(20):  # a race with another driver's take-over or release: look again
                if self._publish() or self._take_over():
                    return
        except OSError as exc:
            self._remove_created()
            raise ConfigError(f"root: cannot create the study's lock {self.path} ({type(exc).__name__}: "
                              f"{exc.strerror or exc}); use a writable --root") from None
        raise StudyLocked(f"study {self.name!r}: could not take its lock {self.path}; try again")

    def _publish(self) -> bool:
        """A new lock file, already written and flocked, linked into place; False if one exists."""
        tmp = f"{self.path}.{self.info['host']}.{self.info['pid']}"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._write(fd)
            os.link(tmp, self.path)
        except FileExistsError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        finally:
            os.unlink(tmp)
        self.fd = fd
        return True

    def _take_over(self) -> bool:
        """Hold the existing lock file if its driver is gone (warning), else :class:`StudyLocked`;
        False if the file changed under us (look again)."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            held = self._held_elsewhere(fd)
            if os.fstat(fd).st_ino != os.stat(self.path).st_ino:
                raise FileNotFoundError  # released and replaced meanwhile
        except FileNotFoundError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        holder = self._read(fd)
        if held or holder.get("host") not in (None, self.info["host"]):
            os.close(fd)
            where = "" if held else f"; if that driver is gone, delete {self.path}"
            raise StudyLocked(f"study {self.name!r} is already being run by {_describe(holder)} "
                              f"(lock {self.path}){where}; wait for it to end, or stop it first")
        state = "its pid is alive but does not hold it" if _alive(holder.get("pid")) else "no longer running"
        log.warning("study %s: taking over the lock left by %s (%s)", self.name, _describe(holder), state)
        self._write(fd)
        self.fd = fd
        return True

    @staticmethod
    def _held_elsewhere(fd: int) -> bool:
        """Does another process hold the flock? (False: we hold it now.)"""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True

    def _write(self, fd: int) -> None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(self.info).encode(), 0)
        os.fsync(fd)

    @staticmethod
    def _read(fd: int) -> dict:
        try:
            info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            return info if isinstance(info, dict) else {}
        except (ValueError, UnicodeDecodeError):
            return {}

    def release(self) -> None:
        """Remove the lock file (while still holding it) and let go; no-op if not held."""
        if self.fd is None:
            return
        try:
            if os.fstat(self.fd).st_ino == os.stat(self.path).st_ino:
                os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None
        self._remove_created()

    def _remove_created(self) -> None:
        for path in self._created:
            try:
                os.rmdir(path)
            except OSError:
                break
