"""Query cameras of plain photos: intrinsics from EXIF when the photo has them, otherwise a prior from its size."""

from __future__ import annotations

import math
from pathlib import Path

import pycolmap

from vloc.console import track
from vloc.errors import ConfigError, InputError
from vloc.io.intrinsics import write_intrinsics_sources
from vloc.io.text import write_queries


def camera_from_photo(path: Path, prior_focal_factor: float) -> tuple[pycolmap.Camera, str]:
    """SIMPLE_RADIAL camera of one photo and where its focal length came from (`exif` or `prior`: the factor times
    the longer side, pycolmap's 1.2 by default)."""
    if not path.is_file():
        raise InputError(f"{path}: image not found")
    try:
        camera = pycolmap.infer_camera_from_image(path)
    except (RuntimeError, ValueError):
        camera = None
    if camera is None or camera.width <= 0:
        raise InputError(f"{path}: not a readable image")
    if camera.has_prior_focal_length:
        return camera, "exif"
    camera.params = [prior_focal_factor * max(camera.width, camera.height), *camera.params[1:]]
    return camera, "prior"


def check_prior_focal(prior_focal_factor: float) -> None:
    """One line unless the prior focal length (in units of the longer side) is positive and finite."""
    if not 0 < prior_focal_factor < math.inf:
        raise ConfigError(f"--prior-focal must be positive and finite, not {prior_focal_factor}")


def main(image_root: Path, names: list[str], out: Path, prior_focal_factor: float = 1.2) -> dict[str, str]:
    """Write the hloc queries file `out` of `names` below `image_root`, and the source of each camera beside it."""
    check_prior_focal(prior_focal_factor)
    cameras, sources = {}, {}
    for name in track(names, "cameras", len(names)):
        cameras[name], sources[name] = camera_from_photo(image_root / name, prior_focal_factor)
    write_queries(out, cameras)
    write_intrinsics_sources(out, sources)
    return sources
