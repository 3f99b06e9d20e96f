"""`vloc extract local`: local features of every image in a folder, written to a features file."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from vloc.config import preset_field, to_json
from vloc.extract.pending import Extraction
from vloc.extractors import EXTRACTORS
from vloc.io.features import Features, write_features
from vloc.io.images import Preprocessing, select_images
from vloc.parallel.executor import LOCAL, ExecutorConf


@dataclass(frozen=True)
class ExtractConf:
    extractor: str = preset_field()
    model: Any = preset_field()
    preprocessing: Preprocessing = field(default_factory=Preprocessing)

    @property
    def output_name(self) -> str:
        """Self-describing file name, e.g. feats-sift-n4096-r1600.h5."""
        resize = self.preprocessing.resize_max or "full"
        return f"feats-{self.extractor}-n{self.model.max_keypoints}-r{resize}.h5"


def conf_by_name(name: str) -> ExtractConf:
    """The extract conf of the extractor preset `name`, e.g. `sift-colmap`."""
    return EXTRACTORS.conf(name, "extract", ExtractConf)


class LocalFeatureWriter:
    """Local features of one image at a time, written in the features file's layout."""

    def __init__(self, conf: ExtractConf):
        extractor_class = EXTRACTORS.get(conf.extractor)
        self.extractor = extractor_class(conf.model)
        self.grayscale = extractor_class.grayscale

    def __call__(
        self, handle: h5py.File, name: str, image: np.ndarray, scale: np.ndarray, size: tuple[int, int]
    ) -> None:
        prediction = self.extractor(image)
        keypoints = (prediction["keypoints"] + 0.5) / scale - 0.5  # back to the original image's pixels
        scales = prediction.get("scales")
        features = Features(
            keypoints.astype(np.float32),
            prediction["descriptors"],
            prediction["scores"],
            np.array(size),
            scales=None if scales is None else scales / scale.mean(),
            oris=prediction.get("oris"),
        )
        write_features(handle, name, features)


def main(
    conf: ExtractConf,
    image_root: Path,
    out: Path,
    image_list: Path | None = None,
    overwrite: bool = False,
    skip_unreadable: bool = False,
    executor: ExecutorConf = LOCAL,
) -> Path:
    """Extract features of the images below `image_root` (or those in `image_list`) into `out`."""
    extraction = Extraction(
        partial(LocalFeatureWriter, conf),
        to_json(conf),
        "keypoints",
        image_root,
        conf.preprocessing,
        skip_unreadable,
        "extract",
    )
    return extraction.run(out, partial(select_images, image_root, image_list, skip_unreadable), overwrite, executor)
