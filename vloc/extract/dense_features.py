"""`vloc extract dense`: a pyramid of dense feature maps of every image, for feature-metric refinement."""

from __future__ import annotations

from pathlib import Path

from vloc.config import to_json
from vloc.dense.pyramid import ExtractDenseConf, build_backbone, pyramid_of, write_pyramid
from vloc.extract.pending import extraction_output, pending_images
from vloc.io.h5 import stamp_config
from vloc.io.images import select_images


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
    names = select_images(image_root, image_list, skip_unreadable)
    with extraction_output(out, "strides", names, overwrite) as handle:
        stamp_config(handle, out, to_json(conf))
        images = pending_images(
            handle,
            "strides",
            image_root,
            names,
            backbone.grayscale,
            conf.preprocessing,
            overwrite=overwrite,
            skip_unreadable=skip_unreadable,
            description="extract dense",
        )
        for name, image, scale, _ in images:
            write_pyramid(handle, name, pyramid_of(backbone, image, scale))
    return out
