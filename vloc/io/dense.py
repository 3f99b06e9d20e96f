"""Dense feature pyramids: one group per image name with `level_<k>` (C, H, W) float16 maps and `strides` (L, 2)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch

from ..dense.base import DenseLevel
from ..errors import FormatError
from .h5 import list_groups_with, open_for_reading, write_group


def write_pyramid(handle: h5py.File, name: str, levels: list[DenseLevel]) -> None:
    """Write one image's pyramid (coarse to fine) into an open file, as float16."""
    datasets = {f"level_{k}": level.features.numpy().astype(np.float16) for k, level in enumerate(levels)}
    datasets["strides"] = np.stack([level.stride.numpy() for level in levels])
    write_group(handle, name, datasets)


def list_dense_images(path: Path) -> list[str]:
    """Names of the images in a dense-features file."""
    with open_for_reading(path) as handle:
        return list_groups_with(handle, "strides")


class DenseReader:
    """Reads dense pyramids of many images from one file, keeping the file open."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = open_for_reading(path)

    def __enter__(self) -> "DenseReader":
        return self

    def __exit__(self, *args) -> None:
        self.close()

    def close(self) -> None:
        self.handle.close()

    def __contains__(self, name: str) -> bool:
        return name in self.handle and "strides" in self.handle[name]

    def read(self, name: str) -> list[DenseLevel]:
        """The pyramid of one image (float32), coarse to fine."""
        if name not in self:
            raise FormatError(f"{self.path}: no dense features for image '{name}' (run vloc extract --dense on it)")
        group = self.handle[name]
        strides = group["strides"][()]
        try:
            maps = [group[f"level_{k}"][()] for k in range(len(strides))]
        except KeyError:
            raise FormatError(f"{self.path}: image '{name}' lacks pyramid levels listed in its strides") from None
        return [DenseLevel(torch.from_numpy(m.astype(np.float32)), torch.from_numpy(s)) for m, s in zip(maps, strides)]
