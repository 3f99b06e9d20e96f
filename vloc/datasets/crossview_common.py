"""What the cross-view dataset adapters share: web-Mercator ground sampling and offsets, planar poses moved along
their own axes, the seeded priors of the published protocols, text parsing with one-line errors, writing
the result outside the dataset."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from vloc.errors import InputError
from vloc.io.crossview import Aerial, GroundCamera, GroundView, PlanarPose, random_prior, write_crossview
from vloc.io.text import read_utf8

MERCATOR_MPP_ZOOM0 = 156543.03392  # metres per pixel on the equator of the zoom-0 web-Mercator world (256 pixels)
EARTH_RADIUS_M = 6378137.0  # WGS84 equatorial radius, that of web Mercator
TILE_ZOOM = 18  # the zoom of the KITTI and Ford tiles (HighlyAccurate utils.Satmap_zoom, Ford's SatelliteMaps_18)
TILE_SCALE = 2  # fetched with Google static maps' scale=2: twice the pixels (HighlyAccurate utils.get_meter_per_pixel)


def web_mercator_mpp(latitude_deg: float, zoom: int = TILE_ZOOM, scale: int = TILE_SCALE) -> float:
    """Metres per pixel of a web-Mercator satellite image at `latitude_deg`, fetched at `zoom` and `scale`."""
    return MERCATOR_MPP_ZOOM0 * math.cos(math.radians(latitude_deg)) / 2**zoom / scale


def mercator_offset(latitude_deg: float, longitude_deg: float, origin: tuple[float, float]) -> tuple[float, float]:
    """Metres east and north of a GPS fix from `origin` (lat, lon) in Mercator scaled at the origin's latitude
    (HighlyAccurate's utils.gps2utm)."""
    scale = EARTH_RADIUS_M * math.cos(math.radians(origin[0]))

    def northing(latitude: float) -> float:
        return math.log(math.tan(math.pi * (90.0 + latitude) / 360.0))

    return scale * math.radians(longitude_deg - origin[1]), scale * (northing(latitude_deg) - northing(origin[0]))


def random_priors(poses: list[PlanarPose], offset_m: float, yaw_deg: float, seed: int) -> list[PlanarPose]:
    """A prior per pose drawn as the published protocols do, but seeded: moved uniformly within +-`offset_m` along
    its heading and across it, and turned uniformly within +-`yaw_deg`."""
    rng = np.random.default_rng(seed)
    return [random_prior(rng, pose, offset_m, yaw_deg) for pose in poses]


def with_priors(views: list[GroundView], offset_m: float, yaw_deg: float, seed: int) -> list[GroundView]:
    """`views`, each without a prior given one by `random_priors`; a view's draw depends on its place in the list
    only, not on which views had a prior."""
    priors = random_priors([view.pose for view in views], offset_m, yaw_deg, seed)
    return [view if view.prior is not None else replace(view, prior=prior) for view, prior in zip(views, priors)]


def pinhole_camera(width: int, height: int, fx: float, fy: float, cx: float, cy: float) -> GroundCamera:
    """A PINHOLE camera from intrinsics that put the top-left pixel's centre at (0, 0) (KITTI's, ROS's), with the
    principal point moved by +0.5 to COLMAP's convention."""
    return GroundCamera("PINHOLE", width, height, (fx, fy, cx + 0.5, cy + 0.5))


def numbered_tokens(path: Path) -> list[tuple[int, list[str]]]:
    """The whitespace-separated tokens of each non-blank line of a text file, with its line number."""
    return [(number, line.split()) for number, line in enumerate(read_utf8(path).splitlines(), 1) if line.strip()]


def parse_numbers(tokens: list[str], where: str, what: str) -> list[float]:
    """`tokens` as finite numbers; a one-line InputError naming `where` and `what` they should be otherwise."""
    try:
        values = [float(token) for token in tokens]
    except ValueError:
        raise InputError(f"{where}: {what} are not numbers") from None
    if not all(math.isfinite(value) for value in values):
        raise InputError(f"{where}: {what} are not finite")
    return values


def refuse_inside(out: Path, dataset: Path) -> None:
    """A one-line InputError where `out` lies inside the dataset folder: nothing is written into the user's dataset."""
    if out.resolve().is_relative_to(dataset.resolve()):
        raise InputError(f"{out}: inside the dataset folder {dataset}; write the cross-view dataset elsewhere")


def write_dataset(out: Path, dataset: Path, aerials: dict[str, Aerial], views: list[GroundView]) -> int:
    """Write `out`/crossview.json with image paths relative to the dataset folder (no image is copied); the number of
    views written."""
    refuse_inside(out, dataset)
    out.mkdir(parents=True, exist_ok=True)
    write_crossview(out, aerials, views, dataset)
    return len(views)
