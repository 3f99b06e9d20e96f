"""Dense feature pyramids by image name: stored in a dense file (one group per image with `level_<k>` (C, H, W)
float16 maps and `strides` (L, 2)), or computed from the images by a dense backbone."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from vloc.config import preset_field
from vloc.dense import DENSE_BACKBONES, DenseBackbone, DenseLevel
from vloc.errors import ConfigError, FormatError, InputError
from vloc.io.h5 import ImageGroupsReader, write_group
from vloc.io.images import Preprocessing, load_for_extraction


def write_pyramid(handle: h5py.File, name: str, levels: list[DenseLevel]) -> None:
    """Write one image's pyramid (coarse to fine) into an open file, as float16."""
    datasets = {f"level_{k}": level.features.numpy().astype(np.float16) for k, level in enumerate(levels)}
    datasets["strides"] = np.stack([level.stride.numpy() for level in levels])
    write_group(handle, name, datasets)


class DenseReader(ImageGroupsReader):
    """Reads dense pyramids of many images from one file, keeping the file open."""

    dataset = "strides"
    contents = "dense features"
    hint = " (run vloc extract dense on it)"

    def read(self, name: str) -> list[DenseLevel]:
        """The pyramid of one image (float32), coarse to fine."""
        group = self.group(name)
        strides = group["strides"][()]
        try:
            maps = [group[f"level_{k}"][()] for k in range(len(strides))]
        except KeyError:
            raise FormatError(f"{self.path}: image '{name}' lacks pyramid levels listed in its strides") from None
        return [DenseLevel(torch.from_numpy(m.astype(np.float32)), torch.from_numpy(s)) for m, s in zip(maps, strides)]


@dataclass(frozen=True)
class ExtractDenseConf:
    backbone: str = preset_field()
    model: Any = preset_field()
    preprocessing: Preprocessing = field(default_factory=lambda: Preprocessing(640))

    @property
    def output_name(self) -> str:
        """Self-describing file name, e.g. dense-dsift-r640.h5."""
        return f"dense-{self.backbone}-r{self.preprocessing.resize_max or 'full'}.h5"


def conf_by_name(name: str) -> ExtractDenseConf:
    """The dense extract conf of the dense-backbone preset `name`, e.g. `dsift`."""
    return DENSE_BACKBONES.conf(name, "dense extract", ExtractDenseConf)


def build_backbone(conf: ExtractDenseConf) -> DenseBackbone:
    return DENSE_BACKBONES.get(conf.backbone)(conf.model)


def pyramid_of(backbone: DenseBackbone, image: np.ndarray, scale: np.ndarray) -> list[DenseLevel]:
    """Pyramid of a (resized) image, with strides in pixels of the original image."""
    levels = backbone(image)
    for level in levels:
        level.stride = level.stride / torch.as_tensor(np.asarray(scale, np.float64))
    return levels


def compute_pyramid(backbone: DenseBackbone, conf: ExtractDenseConf, path: Path) -> list[DenseLevel]:
    """Read one image and compute its pyramid on the fly."""
    image, scale, _ = load_for_extraction(path, backbone.grayscale, conf.preprocessing)
    return pyramid_of(backbone, image, scale)


class PyramidSource:
    """Dense pyramids by image name: read from a dense file (`vloc extract dense`), or computed from the images."""

    def __init__(self, conf: ExtractDenseConf, dense_path: Path | None, image_root: Path | None):
        if image_root is None and dense_path is None:
            raise ConfigError("dense features are needed: pass --dense FILE (vloc extract dense) or --images DIR")
        self.conf, self.image_root = conf, image_root
        self.reader = DenseReader(dense_path) if dense_path is not None else None
        self.backbone = build_backbone(conf) if self.reader is None else None

    def __enter__(self) -> PyramidSource:
        return self

    def __exit__(self, *args) -> None:
        self.close()

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def __call__(self, name: str) -> list[DenseLevel]:
        if self.reader is not None:
            return self.reader.read(name)
        path = self.image_root / name
        if not path.exists():
            raise InputError(f"{path}: image not found (needed for its dense features)")
        return compute_pyramid(self.backbone, self.conf, path)
