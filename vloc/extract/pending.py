"""The output of an extraction and the images it still has to do: those not yet in it, loaded and resized ahead."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from vloc.console import track
from vloc.io.h5 import Entries, atomic_writer, list_groups_with
from vloc.io.images import Preprocessing, prefetch_images


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
