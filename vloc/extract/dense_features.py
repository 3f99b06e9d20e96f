"""`vloc extract dense`: a pyramid of dense feature maps of every image, for feature-metric refinement."""

from __future__ import annotations

from pathlib import Path

from vloc.config import to_json
from vloc.console import track
from vloc.dense.pyramid import ExtractDenseConf, build_backbone, pyramid_of, write_pyramid
from vloc.io.h5 import atomic_writer, list_groups_with, stamp_config
from vloc.io.images import prefetch_images, select_images


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
        loaded_images = prefetch_images(
            image_root, todo, backbone.grayscale, conf.preprocessing.resize_max, skip_unreadable
        )
        for name, loaded in track(loaded_images, "extract dense", len(todo)):
            if loaded is not None:
                image, scale, _ = loaded
                write_pyramid(handle, name, pyramid_of(backbone, image, scale))
    return out
