"""KITTI raw with the satellite tiles of Shi & Li (CVPR 2022, github YujiaoShi/HighlyAccurate), laid out as its
README and DenseFlow's (NeurIPS 2023) dataLoader/KITTI_dataset.py read it:

    raw_data/<date>/calib_cam_to_cam.txt                    P_rect_02: the rectified colour camera's projection
    raw_data/<date>/<drive>_sync/image_02/data/<frame>.png  ground images
    raw_data/<date>/<drive>_sync/oxts/data/<frame>.txt      lat lon alt roll pitch yaw ... (yaw: east = 0, ccw, rad)
    satmap/<date>/<drive>_sync/<frame>.png                  a north-up tile per frame, centred at its GPS fix

Every frame has its own tile as aerial image, at 156543.03392 cos(lat) / 2^18 / 2 metres per pixel (zoom 18, fetched
at scale 2) at the frame's latitude. The camera is where the released code puts it: 1.08 m ahead of and 0.26 m right of
the GPS fix at the tile's centre (utils.CameraGPS_shift_left), heading -yaw (the tile's rows point south), 1.65 m above
the ground (utils.Camera_height). Split files ('<date>/<drive>_sync/<frame>.png' per line: train_files.txt, and
test1_files.txt / test2_files.txt where the published perturbation follows: longitudinal and lateral shifts and a
rotation, each in [-1, 1]) select the frames and name their split. A published perturbation, scaled by the prior
offsets (20 m, 10 degrees as published), is the frame's prior; other frames get seeded random ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from vloc.console import track
from vloc.datasets.crossview_common import (
    numbered_tokens,
    parse_numbers,
    pinhole_camera,
    refuse_inside,
    web_mercator_mpp,
    with_priors,
    write_dataset,
)
from vloc.errors import InputError
from vloc.io.crossview import Aerial, GroundView, PlanarPose
from vloc.io.images import image_size
from vloc.io.text import read_utf8

CAMERA_FROM_GPS_M = (1.08, 0.26)  # image_02 ahead of and right of the OXTS unit (utils.CameraGPS_shift_left)
CAMERA_HEIGHT_M = 1.65  # utils.Camera_height
CALIBRATION = "calib_cam_to_cam.txt"


@dataclass(frozen=True)
class KittiFrame:
    """A frame to prepare: from a split file, or found under satmap/."""

    name: str  # <date>/<drive>_sync/<frame>.png, as in the split files and under satmap/
    split: str = ""
    perturbation: tuple[float, ...] | None = None  # the published prior: longitudinal, lateral, rotation in [-1, 1]


def prepare_kitti_crossview(
    root: Path,
    out: Path,
    split_files: tuple[Path, ...] = (),
    prior_offset_m: float = 20.0,
    prior_yaw_deg: float = 10.0,
    seed: int = 0,
) -> int:
    """Write `out`/crossview.json for the KITTI folder `root` (raw_data/, satmap/): the frames of `split_files`
    (default: every frame with a tile), images read in place; the number of views written."""
    refuse_inside(out, root)
    frames = [frame for path in split_files for frame in read_split(path)] or tiled_frames(root)
    calibrations: dict[str, tuple[float, float, float, float]] = {}
    aerials, views = {}, []
    for frame in track(frames, "KITTI frames"):
        aerial, view = frame_view(root, frame, calibrations)
        if frame.perturbation is not None:
            view = replace(view, prior=published_prior(view.pose, frame.perturbation, prior_offset_m, prior_yaw_deg))
        aerials[view.aerial] = aerial
        views.append(view)
    views = with_priors(views, prior_offset_m, prior_yaw_deg, seed)
    return write_dataset(out, root, aerials, views)


def published_prior(pose: PlanarPose, perturbation: tuple[float, ...], offset_m: float, yaw_deg: float) -> PlanarPose:
    """The prior of a test file's perturbation: the released loader shifts the camera-centred tile so that the camera
    lies longitudinal * offset ahead and lateral * offset left of its centre, then turns it by rotation * yaw."""
    longitudinal, lateral, rotation = perturbation
    return pose.moved(-longitudinal * offset_m, lateral * offset_m, rotation * yaw_deg)


def tiled_frames(root: Path) -> list[KittiFrame]:
    """Every frame with a tile under satmap/."""
    satmap = root / "satmap"
    frames = [KittiFrame(path.relative_to(satmap).as_posix()) for path in sorted(satmap.glob("*/*/*.png"))]
    if not frames:
        raise InputError(f"{satmap}: no satellite tiles (satmap/<date>/<drive>_sync/<frame>.png)")
    return frames


def read_split(path: Path) -> list[KittiFrame]:
    """The frames of a split file, named after it (test1_files.txt: test1), with their published perturbations."""
    split = path.stem.removesuffix("_files")
    frames = []
    for number, tokens in numbered_tokens(path):
        where = f"{path}:{number}"
        if len(tokens) not in (1, 4) or len(PurePosixPath(tokens[0]).parts) != 3:
            raise InputError(f"{where}: expected '<date>/<drive>_sync/<frame>.png', optionally with 3 perturbations")
        perturbation = tuple(parse_numbers(tokens[1:], where, "the perturbations")) if len(tokens) == 4 else None
        frames.append(KittiFrame(tokens[0], split, perturbation))
    if not frames:
        raise InputError(f"{path}: lists no frames")
    return frames


def frame_view(
    root: Path, frame: KittiFrame, calibrations: dict[str, tuple[float, float, float, float]]
) -> tuple[Aerial, GroundView]:
    """The tile and ground view of a frame, without a prior; `calibrations` caches each date's intrinsics."""
    date, drive, image_name = PurePosixPath(frame.name).parts
    raw = root / "raw_data" / date
    if date not in calibrations:
        calibrations[date] = read_colour_intrinsics(raw / CALIBRATION)
    tile = f"satmap/{frame.name}"
    tile_width, tile_height = image_size(root / tile)
    latitude, heading = read_oxts(raw / drive / "oxts" / "data" / f"{PurePosixPath(image_name).stem}.txt")
    image = f"raw_data/{date}/{drive}/image_02/data/{image_name}"
    camera = pinhole_camera(*image_size(root / image), *calibrations[date])
    mpp = web_mercator_mpp(latitude)
    gps = PlanarPose(tile_width / 2 * mpp, tile_height / 2 * mpp, -math.degrees(heading))
    view = GroundView(image, tile, camera, CAMERA_HEIGHT_M, gps.moved(*CAMERA_FROM_GPS_M), None, split=frame.split)
    return Aerial(tile, mpp), view


def read_oxts(path: Path) -> tuple[float, float]:
    """(latitude in degrees, yaw in radians: east = 0, counter-clockwise) of an OXTS file."""
    tokens = read_utf8(path).split()
    if len(tokens) < 6:
        raise InputError(f"{path}: expected at least 6 numbers (lat lon alt roll pitch yaw), found {len(tokens)}")
    latitude, _, _, _, _, yaw = parse_numbers(tokens[:6], str(path), "lat lon alt roll pitch yaw")
    return latitude, yaw


def read_colour_intrinsics(path: Path) -> tuple[float, float, float, float]:
    """fx, fy, cx, cy of the rectified left colour camera: P_rect_02 of calib_cam_to_cam.txt."""
    for number, tokens in numbered_tokens(path):
        if tokens[0] == "P_rect_02:":
            if len(tokens) != 13:
                raise InputError(f"{path}:{number}: P_rect_02 needs the 12 numbers of a 3x4 projection matrix")
            P = parse_numbers(tokens[1:], f"{path}:{number}", "P_rect_02's values")
            if not (P[0] > 0 and P[5] > 0):
                raise InputError(f"{path}:{number}: P_rect_02's focal lengths are not positive")
            return P[0], P[5], P[2], P[6]
    raise InputError(f"{path}: no P_rect_02 line (the rectified colour camera's projection)")
