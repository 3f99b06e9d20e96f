"""Atomic writes: a file or folder is written beside its target as `<name>.tmp`, then renamed over it."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield `<path>.tmp` to write a file or folder into: it replaces `path` when the block ends and is removed if the
    block fails (Ctrl-C included), so no half-written `path` is ever seen."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    _remove(temporary)
    try:
        yield temporary
    except BaseException:
        _remove(temporary)
        raise
    _replace(temporary, path)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file, so no half-written file is left."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _replace(temporary: Path, path: Path) -> None:
    if temporary.is_dir():  # a folder cannot be renamed over another one
        shutil.rmtree(path, ignore_errors=True)
    os.replace(temporary, path)
