"""Atomic writes: a file or folder is written beside its target as `<name>.tmp`, then swapped in, while
`<name>.lock` keeps every other vloc run from writing the same target."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from vloc.errors import BusyError

logger = logging.getLogger(__name__)

RENAME_EXCHANGE = 2  # renameat2 flag (Linux): swap two paths in one step
AT_FDCWD = -100


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield `<path>.tmp` to write a file or folder into: it replaces `path` when the block ends and is removed if the
    block fails (Ctrl-C included), so no half-written `path` is ever seen. The output is locked throughout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with output_lock(path):
        if temporary.exists() or temporary.is_symlink():  # only a run that was killed leaves one behind
            logger.warning("removing %s, left by a vloc run that was stopped", temporary)
            _remove(temporary)
        try:
            yield temporary
            _replace(temporary, path)
        except BaseException:
            _remove(temporary)
            raise


@contextlib.contextmanager
def output_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `<path>.lock` (holding this run's pid and host) while `path` is written; a second run
    fails with one line. The lock is an flock, which dies with its process: a killed run never leaves `path` locked."""
    lock_path = path.with_name(path.name + ".lock")
    descriptor = _lock(lock_path, path)
    try:
        os.ftruncate(descriptor, 0)  # a killed run may have left its pid in the file
        os.write(descriptor, f"{os.getpid()} {socket.gethostname()}\n".encode())
        yield
    finally:
        lock_path.unlink(missing_ok=True)  # still locked: a run that opened this file retries on a new one
        os.close(descriptor)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file, so no half-written file is left."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def _lock(lock_path: Path, path: Path) -> int:
    """A descriptor of `lock_path` holding its flock; BusyError naming the holder if another run has it."""
    while True:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 256, 0).decode(errors="replace").split()
            os.close(descriptor)
            raise BusyError(f"{path}: {_another_run(holder)} is writing this file; wait for it to finish") from None
        if _is_current(descriptor, lock_path):
            return descriptor
        os.close(descriptor)  # its holder removed that file as it finished: lock the file now at `lock_path`


def _another_run(holder: list[str]) -> str:
    """'another vloc run (pid N)', with the host when it is not this one; without the pid if not yet written."""
    if not holder:
        return "another vloc run"
    pid, host = holder[0], " ".join(holder[1:])
    return f"another vloc run (pid {pid}{'' if host == socket.gethostname() else f' on {host}'})"


def _is_current(descriptor: int, lock_path: Path) -> bool:
    """Whether the open lock file is still the one at `lock_path` (not removed by the run that held it)."""
    try:
        current = os.stat(lock_path)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (opened.st_dev, opened.st_ino) == (current.st_dev, current.st_ino)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _replace(temporary: Path, path: Path) -> None:
    """Move `temporary` to `path`; a folder over a non-empty folder is swapped with it, then the old one removed."""
    if temporary.is_dir() and path.is_dir() and not path.is_symlink() and any(path.iterdir()):
        _exchange(temporary, path)
        shutil.rmtree(temporary)
    else:
        os.replace(temporary, path)  # a file, or a folder over nothing or over an empty folder: one step


def _exchange(first: Path, second: Path) -> None:
    """Swap two paths in one step (renameat2); where the system cannot, move `second` aside first."""
    libc = ctypes.CDLL(None, use_errno=True)
    exchange = getattr(libc, "renameat2", None)
    if exchange is not None and exchange(AT_FDCWD, bytes(first), AT_FDCWD, bytes(second), RENAME_EXCHANGE) == 0:
        return
    retired = second.with_name(second.name + ".old")
    _remove(retired)
    os.rename(second, retired)
    os.rename(first, second)
    os.rename(retired, first)
