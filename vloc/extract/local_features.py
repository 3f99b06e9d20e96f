"""`vloc extract local`: local features of every image in a folder, written to a features file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vloc.config import preset_field, to_json
from vloc.extract.pending import extraction_output, pending_images
from vloc.extractors import EXTRACTORS
from vloc.io.features import Features, write_features
from vloc.io.h5 import stamp_config
from vloc.io.images import Preprocessing, select_images


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


def main(
    conf: ExtractConf,
    image_root: Path,
    out: Path,
    image_list: Path | None = None,
    overwrite: bool = False,
    skip_unreadable: bool = False,
) -> Path:
    """Extract features of the images below `image_root` (or those in `image_list`) into `out`."""
    extractor_class = EXTRACTORS.get(conf.extractor)
    extractor = extractor_class(conf.model)
    names = select_images(image_root, image_list, skip_unreadable)
    with extraction_output(out, "keypoints", names, overwrite) as handle:
        stamp_config(handle, out, to_json(conf))
        images = pending_images(
            handle,
            "keypoints",
            image_root,
            names,
            extractor_class.grayscale,
            conf.preprocessing,
            overwrite=overwrite,
            skip_unreadable=skip_unreadable,
            description="extract",
        )
        for name, image, scale, size in images:
            prediction = extractor(image)
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
    return out
