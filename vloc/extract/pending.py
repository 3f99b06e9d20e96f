"""The images an extraction still has to do: those not yet in its output, loaded and resized ahead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from vloc.console import track
from vloc.io.h5 import list_groups_with
from vloc.io.images import prefetch_images


def pending_images(
    handle: h5py.File,
    done_dataset: str,
    image_root: Path,
    names: list[str],
    grayscale: bool,
    resize_max: int | None,
    *,
    overwrite: bool,
    skip_unreadable: bool,
    description: str,
) -> Iterator[tuple[str, np.ndarray, np.ndarray, tuple[int, int]]]:
    """(name, image, scale, original size) of each image of `names` whose group in the open output lacks
    `done_dataset` (all with `overwrite`), under a progress bar; unreadable images are skipped when allowed."""
    done = set() if overwrite else set(list_groups_with(handle, done_dataset))
    todo = [n for n in names if n not in done]
    loaded_images = prefetch_images(image_root, todo, grayscale, resize_max, skip_unreadable)
    for name, loaded in track(loaded_images, description, len(todo)):
        if loaded is not None:
            yield (name, *loaded)
