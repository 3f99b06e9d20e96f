"""HDF5 plumbing shared by every vloc file: format version, validated opening, readers, atomic writes."""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

import h5py

from vloc.errors import ConfigError, FormatError, InputError
from vloc.io.atomic import atomic_path

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
FORMAT_ATTR = "vloc_format"


def open_for_reading(path: Path) -> h5py.File:
    """Open an HDF5 file written by vloc or hloc; fail with one line if absent, corrupt or too new."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        handle = h5py.File(path, "r", locking=False)
    except OSError as error:
        raise FormatError(f"{path}: not a readable HDF5 file ({str(error).split('(')[0].strip()})") from None
    version = handle.attrs.get(FORMAT_ATTR)
    if version is not None and int(version) > FORMAT_VERSION:
        handle.close()
        raise FormatError(f"{path}: vloc_format {int(version)} is newer than this vloc reads ({FORMAT_VERSION})")
    return handle


def list_groups_with(handle: h5py.File, dataset: str) -> list[str]:
    """Names of all groups (at any depth) that hold `dataset`, as hloc's list_h5_names."""
    names: list[str] = []

    def visit(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Dataset) and name.rsplit("/", 1)[-1] == dataset:
            names.append(name.rsplit("/", 1)[0])

    handle.visititems(visit)
    return sorted(set(names))


def require(group: h5py.Group, names: tuple[str, ...], path: Path, what: str) -> None:
    """Fail naming the file and entry when a dataset the reader needs is missing."""
    missing = [n for n in names if n not in group]
    if missing:
        raise FormatError(f"{path}: {what} lacks dataset(s) {', '.join(missing)}")


Reader = TypeVar("Reader", bound="H5Reader")


class H5Reader:
    """An HDF5 file written by vloc or hloc, open for reading until `close` or the end of a `with` block."""

    def __init__(self, path: Path, handle: h5py.File | None = None):
        """Open `path`, or read through `handle`, an already open file of that path (e.g. one being written)."""
        self.path = path
        self.handle = open_for_reading(path) if handle is None else handle

    def __enter__(self: Reader) -> Reader:
        return self

    def __exit__(self, *args) -> None:
        self.close()

    def close(self) -> None:
        self.handle.close()


class ImageGroupsReader(H5Reader):
    """A file in hloc's layout, one group per image name; an image is in it when its group holds `dataset`."""

    dataset: ClassVar[str]
    contents: ClassVar[str]  # what the groups hold, as in "no <contents> for image ..."
    hint: ClassVar[str] = ""  # appended to that error: how to add the image

    def __contains__(self, name: str) -> bool:
        return name in self.handle and self.dataset in self.handle[name]

    def group(self, name: str) -> h5py.Group:
        """The group of image `name`; FormatError if the file has none."""
        if name not in self:
            raise FormatError(f"{self.path}: no {self.contents} for image '{name}'{self.hint}")
        return self.handle[name]


@dataclass(frozen=True)
class Entries:
    """Entries of an HDF5 file, by name: the groups holding `dataset` (e.g. an image's `keypoints`) named in `names`."""

    dataset: str
    names: frozenset[str]


@contextlib.contextmanager
def atomic_writer(path: Path, resume: bool, redo: Entries | None = None) -> Iterator[h5py.File]:
    """Yield an HDF5 file that replaces `path` only when the block ends.

    With `resume`, the existing file's content is kept and added to, and a Ctrl-C keeps the entries completed so far
    (each entry is written whole). Otherwise the file starts empty or, with `redo` (an --overwrite of those entries),
    with the existing file's other entries; then any error or Ctrl-C leaves `path` as it was.
    """
    if resume and path.exists():
        open_for_reading(path).close()
    interrupt: KeyboardInterrupt | None = None
    with atomic_path(path) as temporary:
        if resume and path.exists():
            shutil.copyfile(path, temporary)
        handle = h5py.File(temporary, "a", locking=False)
        try:
            if redo and path.exists():
                copy_entries(path, handle, redo.dataset, skip=redo.names)
            handle.attrs[FORMAT_ATTR] = FORMAT_VERSION
            yield handle
        except KeyboardInterrupt as error:
            if not resume and path.exists():
                raise  # never swap a complete file for a partial one
            interrupt = error  # whole entries only: the file replaces `path` and a later run resumes from them
        finally:
            handle.close()
    if interrupt is not None:
        raise interrupt


def copy_entries(path: Path, handle: h5py.File, dataset: str, skip: frozenset[str] = frozenset()) -> list[str]:
    """Copy into `handle` the entries (groups holding `dataset`, at any depth) of the file at `path` not named in
    `skip`, replacing those it has, and the root attributes when any are copied; the names copied."""
    with open_for_reading(path) as source:
        copied = [name for name in list_groups_with(source, dataset) if name not in skip]
        for name in copied:
            if name in handle:
                del handle[name]
            parent = name.rpartition("/")[0]
            source.copy(source[name], handle.require_group(parent) if parent else handle, name=name.rpartition("/")[2])
        if copied:
            handle.attrs.update(source.attrs)
    return copied


# How a file stamped with another value under each attribute was made, for the refusal.
STAMP_MEANINGS = {
    "config": "written with another configuration",
    "inputs": "made from inputs written with another configuration (features extracted again?)",
}


def stamp_config(handle: h5py.File, path: Path, conf_json: str, attribute: str = "config") -> None:
    """Record under `attribute` what writes `handle`: its configuration, or (`inputs`) the configuration stamps of the
    files it is made from; refuse to add to a file stamped with another one."""
    _check_same_stamp(handle.attrs.get(attribute), path, conf_json, attribute)
    handle.attrs[attribute] = conf_json


def check_config(path: Path, conf_json: str, attribute: str = "config") -> None:
    """Refuse, before any work, to add to the file at `path` when it was stamped with another `attribute` value."""
    if path.exists():
        with open_for_reading(path) as handle:
            _check_same_stamp(handle.attrs.get(attribute), path, conf_json, attribute)


def _check_same_stamp(previous: str | None, path: Path, conf_json: str, attribute: str) -> None:
    if previous is not None and previous != conf_json:
        raise ConfigError(
            f"{path} was {STAMP_MEANINGS[attribute]}; redo all its entries with --overwrite, or write another "
            "output file"
        )


def write_group(handle: h5py.File, name: str, datasets: dict, attrs: dict | None = None) -> None:
    """Write one entry whole: a group of datasets, removed again if writing is interrupted."""
    if name in handle:
        del handle[name]
    group = handle.create_group(name)
    try:
        for key, value in datasets.items():
            group.create_dataset(key, data=value)
        for key, value in (attrs or {}).items():
            group.attrs[key] = value
    except BaseException:
        del handle[name]
        raise


def shards_of_config(paths: list[Path], conf_json: str) -> list[Path]:
    """The shard files among `paths` written with the configuration `conf_json`; the others, left by a stopped run
    with other settings, are removed with a warning."""
    kept = []
    for path in paths:
        with open_for_reading(path) as handle:
            same = handle.attrs.get("config") == conf_json
        if same:
            kept.append(path)
        else:
            logger.warning("removing %s, a shard written with another configuration", path)
            path.unlink()
    return kept
