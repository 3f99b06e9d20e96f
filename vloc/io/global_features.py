"""Global-descriptor files in hloc's layout: one group per image name with a `global_descriptor` (D,) dataset."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from vloc.errors import FormatError
from vloc.io.h5 import list_groups_with, open_for_reading, write_group


def write_global_descriptor(handle: h5py.File, name: str, descriptor: np.ndarray) -> None:
    """Write one image's global descriptor into an open file."""
    write_group(handle, name, {"global_descriptor": np.asarray(descriptor)})


def list_global_images(path: Path) -> list[str]:
    """Names of the images in a global-descriptor file."""
    with open_for_reading(path) as handle:
        return list_groups_with(handle, "global_descriptor")


def read_global_descriptors(path: Path, names: list[str]) -> np.ndarray:
    """Stack the global descriptors of `names` into an (N, D) float32 array; fail on a missing image or mixed sizes."""
    rows = []
    with open_for_reading(path) as handle:
        for name in names:
            if name not in handle or "global_descriptor" not in handle[name]:
                raise FormatError(f"{path}: no global descriptor for image '{name}'")
            row = handle[name]["global_descriptor"][()].astype(np.float32).ravel()
            if not np.isfinite(row).all():
                raise FormatError(f"{path}: the global descriptor of image '{name}' is not finite (nan or inf)")
            rows.append(row)
    if len({len(r) for r in rows}) > 1:
        raise FormatError(f"{path}: global descriptors of different dimensions ({sorted({len(r) for r in rows})})")
    return np.stack(rows) if rows else np.zeros((0, 0), np.float32)
