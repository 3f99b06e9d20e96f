"""`vloc extract dense`: a pyramid of dense feature maps of every image, for feature-metric refinement."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import h5py
import numpy as np

from vloc.config import to_json
from vloc.dense.pyramid import ExtractDenseConf, build_backbone, pyramid_of, write_pyramid
from vloc.extract.pending import Extraction
from vloc.io.images import select_images
from vloc.parallel.executor import LOCAL, ExecutorConf


class PyramidWriter:
    """The dense feature pyramid of one image at a time, written in the dense features file's layout."""

    def __init__(self, conf: ExtractDenseConf):
        self.backbone = build_backbone(conf)
        self.grayscale = self.backbone.grayscale

    def __call__(
        self, handle: h5py.File, name: str, image: np.ndarray, scale: np.ndarray, size: tuple[int, int]
    ) -> None:
        write_pyramid(handle, name, pyramid_of(self.backbone, image, scale))


def main(
    conf: ExtractDenseConf,
    image_root: Path,
    out: Path,
    image_list: Path | None = None,
    overwrite: bool = False,
    skip_unreadable: bool = False,
    executor: ExecutorConf = LOCAL,
) -> Path:
    """Extract dense pyramids of the images below `image_root` (or those in `image_list`) into `out`."""
    extraction = Extraction(
        partial(PyramidWriter, conf),
        to_json(conf),
        "strides",
        image_root,
        conf.preprocessing,
        skip_unreadable,
        "extract dense",
    )
    return extraction.run(out, partial(select_images, image_root, image_list, skip_unreadable), overwrite, executor)
