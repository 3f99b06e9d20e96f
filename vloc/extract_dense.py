"""`vloc extract --dense`: a pyramid of dense feature maps of every image, for feature-metric refinement."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import choose, preset_field, to_json
from .dense import DenseBackbone, DenseLevel, get_dense_backbone
from .dense.orientation_histograms import OrientationHistograms
from .extract import Preprocessing
from .errors import ConfigError, InputError
from .io.dense import DenseReader, write_pyramid
from .io.h5 import atomic_writer, list_groups_with, stamp_config
from .io.images import load_for_extraction, prefetch_images, select_images
from .utils import track


@dataclass(frozen=True)
class ExtractDenseConf:
    backbone: str = preset_field()
    model: Any = preset_field()
    preprocessing: Preprocessing = field(default_factory=lambda: Preprocessing(640))

    @property
    def output_name(self) -> str:
        """Self-describing file name, e.g. dense-dsift-r640.h5."""
        return f"dense-{self.backbone}-r{self.preprocessing.resize_max or 'full'}.h5"


def _gnnet() -> ExtractDenseConf:
    from .dense.gnnet import GNNetBackbone

    return ExtractDenseConf("gnnet", GNNetBackbone.default_conf)


def _vgg16() -> ExtractDenseConf:
    from .dense.vgg16 import VGG16Hypercolumns

    return ExtractDenseConf("s2dhm-vgg16", VGG16Hypercolumns.default_conf)


CONFS = {
    "dsift": lambda: ExtractDenseConf("dsift", OrientationHistograms.default_conf),
    "gnnet": _gnnet,
    "s2dhm-vgg16": _vgg16,
}


def conf_by_name(name: str) -> ExtractDenseConf:
    return choose(CONFS, name, "dense extract")


def build_backbone(conf: ExtractDenseConf) -> DenseBackbone:
    return get_dense_backbone(conf.backbone)(conf.model)


def pyramid_of(backbone: DenseBackbone, image: np.ndarray, scale: np.ndarray) -> list[DenseLevel]:
    """Pyramid of a (resized) image, with strides in pixels of the original image."""
    levels = backbone(image)
    for level in levels:
        level.stride = level.stride / torch.as_tensor(np.asarray(scale, np.float64))
    return levels


def compute_pyramid(backbone: DenseBackbone, conf: ExtractDenseConf, path: Path) -> list[DenseLevel]:
    """Read one image and compute its pyramid on the fly."""
    image, scale, _ = load_for_extraction(path, backbone.grayscale, conf.preprocessing.resize_max)
    return pyramid_of(backbone, image, scale)


class PyramidSource:
    """Dense pyramids by image name: read from a dense file (`vloc extract --dense`), or computed from the images."""

    def __init__(self, conf: ExtractDenseConf, dense_path: Path | None, image_root: Path | None):
        if image_root is None and dense_path is None:
            raise ConfigError("dense features are needed: pass --dense FILE (vloc extract --dense) or --images DIR")
        self.conf, self.image_root = conf, image_root
        self.reader = DenseReader(dense_path) if dense_path is not None else None
        self.backbone = build_backbone(conf) if self.reader is None else None

    def __enter__(self) -> "PyramidSource":
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


def main(
    conf: ExtractDenseConf,
    image_root: Path,
    out: Path,
    image_list: Path | None = None,
    overwrite: bool = False,
    skip_unreadable: bool = False,
) -> Path:
    """Extract dense pyramids of the images below `image_root` (or those in `image_list`) into `out`."""
    backbone = build_backbone(conf)
    names = select_images(image_root, image_list)
    with atomic_writer(out, resume=not overwrite) as handle:
        stamp_config(handle, out, to_json(conf))
        done = set() if overwrite else set(list_groups_with(handle, "strides"))
        todo = [n for n in names if n not in done]
        loaded_images = prefetch_images(image_root, todo, backbone.grayscale, conf.preprocessing.resize_max, skip_unreadable)
        for name, loaded in track(loaded_images, "extract dense", len(todo)):
            if loaded is not None:
                image, scale, _ = loaded
                write_pyramid(handle, name, pyramid_of(backbone, image, scale))
    return out
