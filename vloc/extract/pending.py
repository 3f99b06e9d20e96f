"""An extraction: its output, the images it still has to do (loaded and resized ahead), run in this process or in
shards on Ray workers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

import h5py
import numpy as np

from vloc.console import track
from vloc.io.h5 import (
    Entries,
    atomic_writer,
    check_config,
    copy_entries,
    list_groups_with,
    open_for_reading,
    shards_of_config,
    stamp_config,
)
from vloc.io.images import Preprocessing, prefetch_images
from vloc.parallel.executor import ExecutorConf, run_in_shards


def extraction_output(
    out: Path, done_dataset: str, names: list[str], overwrite: bool
) -> contextlib.AbstractContextManager[h5py.File]:
    """The output file, open for writing until the block ends: resumed, or with `overwrite` starting from its images
    not in `names` (those are extracted again; the others are kept as they are)."""
    redo = Entries(done_dataset, frozenset(names)) if overwrite else None
    return atomic_writer(out, resume=not overwrite, redo=redo)


def pending_images(
    handle: h5py.File,
    done_dataset: str,
    image_root: Path,
    names: list[str],
    grayscale: bool,
    preprocessing: Preprocessing,
    *,
    overwrite: bool,
    skip_unreadable: bool,
    description: str,
) -> Iterator[tuple[str, np.ndarray, np.ndarray, tuple[int, int]]]:
    """(name, image, scale, original size) of each image of `names` whose group in the open output lacks
    `done_dataset` (all with `overwrite`), under a progress bar; unreadable images are skipped when allowed."""
    done = set() if overwrite else set(list_groups_with(handle, done_dataset))
    todo = [n for n in names if n not in done]
    loaded_images = prefetch_images(image_root, todo, grayscale, preprocessing, skip_unreadable)
    for name, loaded in track(loaded_images, description, len(todo)):
        if loaded is not None:
            yield (name, *loaded)


class ImageWriter(Protocol):
    """What an extraction does with each image: its model is built once, then it writes one image's entry."""

    grayscale: bool

    def __call__(
        self, handle: h5py.File, name: str, image: np.ndarray, scale: np.ndarray, size: tuple[int, int]
    ) -> None: ...


@dataclass(frozen=True)
class Extraction:
    """An extraction into files whose entries are groups holding `done_dataset`, configured by `conf_json`."""

    make_writer: Callable[[], ImageWriter]
    conf_json: str
    done_dataset: str
    image_root: Path
    preprocessing: Preprocessing
    skip_unreadable: bool
    description: str

    def write(self, handle: h5py.File, path: Path, writer: ImageWriter, names: list[str], overwrite: bool) -> None:
        """Extract into the open file `handle` (of `path`) those images of `names` it lacks (all with `overwrite`)."""
        stamp_config(handle, path, self.conf_json)
        images = pending_images(
            handle,
            self.done_dataset,
            self.image_root,
            names,
            writer.grayscale,
            self.preprocessing,
            overwrite=overwrite,
            skip_unreadable=self.skip_unreadable,
            description=self.description,
        )
        for name, image, scale, size in images:
            writer(handle, name, image, scale, size)

    def run(self, out: Path, select: Callable[[], list[str]], overwrite: bool, executor: ExecutorConf) -> Path:
        """Extract the images `select()` names into `out`, in this process (the model built first: a bad configuration
        fails before any image is listed) or in shards on Ray workers."""
        writer = None if executor.is_ray else self.make_writer()
        names = select()
        if executor.is_ray:
            if not overwrite:
                check_config(out, self.conf_json)
            run_in_shards(
                out,
                partial(self._pending, out, names, overwrite),
                self.shard_worker,
                partial(self._merge, out, names, overwrite),
                executor,
                self.description,
            )
            return out
        with extraction_output(out, self.done_dataset, names, overwrite) as handle:
            self.write(handle, out, writer, names, overwrite)
        return out

    def shard_worker(self) -> Callable[[list[str], Path], None]:
        """In a Ray worker: the model built once, and a function extracting a shard's images into a file of its own."""
        writer = self.make_writer()

        def extract_shard(names: list[str], path: Path) -> None:
            with atomic_writer(path, resume=False) as handle:
                self.write(handle, path, writer, names, overwrite=True)

        return extract_shard

    def _pending(self, out: Path, names: list[str], overwrite: bool, finished: list[Path]) -> list[str]:
        """Images of `names` neither in `out` (unless `overwrite`) nor in a finished shard; shards written with another
        configuration are removed."""
        done: set[str] = set()
        if out.exists() and not overwrite:
            with open_for_reading(out) as handle:
                done.update(list_groups_with(handle, self.done_dataset))
        for path in shards_of_config(finished, self.conf_json):
            with open_for_reading(path) as handle:
                done.update(list_groups_with(handle, self.done_dataset))
        return [name for name in names if name not in done]

    def _merge(self, out: Path, names: list[str], overwrite: bool, finished: list[Path]) -> None:
        with extraction_output(out, self.done_dataset, names, overwrite) as handle:
            stamp_config(handle, out, self.conf_json)
            for path in finished:
                copy_entries(path, handle, self.done_dataset)
