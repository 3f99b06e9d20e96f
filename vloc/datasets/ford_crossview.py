"""Ford Multi-AV Seasonal with the satellite maps of Shi & Li (CVPR 2022, github YujiaoShi/HighlyAccurate), laid out as
its README and DenseFlow's (NeurIPS 2023) dataLoader/Ford_dataset.py read it:

    <date>/V2/<Log>/<date>-V2-<Log>-FL/<name>.png             front-left camera images
    <date>/V2/<Log>/grd_sat_quaternion_latlon.txt             per image: <name>.txt q0 q1 q2 q3 (body to north-east-
                                                              down, w first) lat lon (the body) sat_lat sat_lon (tile)
    <date>/V2/<Log>/grd_sat_quaternion_latlon_test.txt        the same, then the published perturbation in [-1, 1]:
                                                              lateral and longitudinal shifts, a rotation
    <date>/V2/<Log>/SatelliteMaps_18/<sat_lat>_<sat_lon>.png  north-up tiles centred at (sat_lat, sat_lon), zoom 18
    Calibration-V2/V2/cameraFrontLeft_body.yaml               the camera in the body frame (x ahead, y right, z down)
    Calibration-V2/V2/cameraFrontLeftIntrinsics.yaml          K of the 1656 x 860 front-left images

The body lies off its tile's centre by its Mercator offset at the tile's latitude (the released utils.gps2utm) and heads
along the quaternion's yaw (north = 0, clockwise); tiles have 156543.03392 cos(sat_lat) / 2^18 / 2 metres per pixel
(the released code fixes 0.22). The camera is placed by its calibration: its translation's x, y along the body and the
yaw of its optical axis. Its height above the ground is not in the data: 1.65 m by default, what HighlyAccurate's Ford
model assumes (utils.get_camera_height). A view's split is its list's (train or test), its condition its log; a test
line's perturbation, scaled by the prior offsets (20 m, 10 degrees as published), is its prior.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2

from vloc.console import track
from vloc.datasets.base import require
from vloc.datasets.crossview_common import (
    mercator_offset,
    numbered_tokens,
    parse_numbers,
    pinhole_camera,
    refuse_inside,
    web_mercator_mpp,
    with_priors,
    write_dataset,
)
from vloc.errors import InputError
from vloc.io.crossview import Aerial, GroundView, PlanarPose, wrap_degrees
from vloc.io.images import image_size

LISTS = (("train", "grd_sat_quaternion_latlon.txt"), ("test", "grd_sat_quaternion_latlon_test.txt"))
SATELLITE_FOLDER = "SatelliteMaps_18"
CALIBRATION_FOLDER = "Calibration-V2/V2"


@dataclass(frozen=True)
class FordRig:
    """The front-left camera on the vehicle, seen from above, with its intrinsics and height above the ground."""

    forward_m: float
    right_m: float
    yaw_deg: float  # of its optical axis, clockwise from the body's heading
    intrinsics: tuple[float, float, float, float]  # fx, fy, cx, cy (top-left pixel centre at 0, 0)
    height_m: float

    def camera_pose(self, body: PlanarPose) -> PlanarPose:
        return body.moved(self.forward_m, self.right_m, self.yaw_deg)


@dataclass(frozen=True)
class FordList:
    """One of a log's image lists."""

    root: Path
    log: str  # 2017-08-04/V2/Log1
    split: str
    path: Path

    def image(self, name: str) -> str:
        return f"{self.log}/{self.log.replace('/', '-')}-FL/{PurePosixPath(name).stem}.png"

    def tile(self, latitude: str, longitude: str) -> str:
        return f"{self.log}/{SATELLITE_FOLDER}/{latitude}_{longitude}.png"


def prepare_ford_crossview(
    root: Path,
    out: Path,
    logs: tuple[str, ...] = (),
    camera_height_m: float = 1.65,
    prior_offset_m: float = 20.0,
    prior_yaw_deg: float = 10.0,
    seed: int = 0,
) -> int:
    """Write `out`/crossview.json for the Ford folder `root`: the images of both lists of each log ('2017-08-04/V2/
    Log1', ...; default: every log with a list), images read in place; the number of views written."""
    refuse_inside(out, root)
    rig = read_rig(root / CALIBRATION_FOLDER, camera_height_m)
    tile_size = functools.cache(image_size)
    aerials: dict[str, Aerial] = {}
    views = []
    for source in (source for log in logs or found_logs(root) for source in log_lists(root, log)):
        for number, tokens in track(numbered_tokens(source.path), f"Ford {source.log} {source.split}"):
            aerial, view = line_view(source, number, tokens, rig, (prior_offset_m, prior_yaw_deg), tile_size)
            aerials[aerial.image] = aerial
            views.append(view)
    return write_dataset(out, root, aerials, with_priors(views, prior_offset_m, prior_yaw_deg, seed))


def found_logs(root: Path) -> list[str]:
    """Every <date>/V2/<Log> folder of `root` that holds an image list."""
    logs = sorted(
        {path.parent.relative_to(root).as_posix() for _, name in LISTS for path in root.glob(f"*/V2/*/{name}")}
    )
    if not logs:
        raise InputError(
            f"{root}: no <date>/V2/<Log>/{LISTS[0][1]} (Ford Multi-AV with HighlyAccurate's satellite maps)"
        )
    return logs


def log_lists(root: Path, log: str) -> list[FordList]:
    """The train and test lists a log holds."""
    sources = [FordList(root, log, split, root / log / name) for split, name in LISTS if (root / log / name).is_file()]
    if not sources:
        raise InputError(f"{root / log}: no {' or '.join(name for _, name in LISTS)}")
    return sources


def line_view(
    source: FordList,
    number: int,
    tokens: list[str],
    rig: FordRig,
    prior_scale: tuple[float, float],
    tile_size: Callable[[Path], tuple[int, int]],
) -> tuple[Aerial, GroundView]:
    """The tile and view of a list's line; a test line's view has the published prior, scaled by `prior_scale`
    (metres, degrees), a training line's none."""
    where = f"{source.path}:{number}"
    count = 9 if source.split == "train" else 12
    if len(tokens) != count:
        raise InputError(
            f"{where}: expected {count} values (name q0 q1 q2 q3 lat lon sat_lat sat_lon"
            f"{' lateral longitudinal rotation' if count == 12 else ''}), found {len(tokens)}"
        )
    values = parse_numbers(tokens[1:], where, "the quaternion, positions and perturbation")
    tile = source.tile(tokens[7], tokens[8])
    mpp = web_mercator_mpp(values[6])
    body = body_on_tile(values[:8], tile_size(source.root / tile), mpp, where)
    prior = None
    if count == 12:  # the released loader shifts the body-centred tile by lateral (right), longitudinal (down)
        lateral, longitudinal, rotation = values[8:]
        offset_m, yaw_deg = prior_scale
        prior = rig.camera_pose(body.moved(-longitudinal * offset_m, lateral * offset_m, rotation * yaw_deg))
    image = source.image(tokens[0])
    camera = pinhole_camera(*image_size(source.root / image), *rig.intrinsics)
    view = GroundView(image, tile, camera, rig.height_m, rig.camera_pose(body), prior, source.log, source.split)
    return Aerial(tile, mpp), view


def body_on_tile(values: list[float], tile_size: tuple[int, int], mpp: float, where: str) -> PlanarPose:
    """The body's pose on its tile from a line's q0 q1 q2 q3 lat lon sat_lat sat_lon; the tile's centre is at
    (sat_lat, sat_lon), its rows point south."""
    east, north = mercator_offset(values[4], values[5], (values[6], values[7]))
    return PlanarPose(tile_size[0] / 2 * mpp + east, tile_size[1] / 2 * mpp - north, north_yaw(values[:4], where) - 90)


def north_yaw(quaternion: list[float], where: str) -> float:
    """The yaw of a body-to-north-east-down quaternion (w, x, y, z), in degrees clockwise from north."""
    norm = math.sqrt(sum(q * q for q in quaternion))
    if norm < 1e-9:
        raise InputError(f"{where}: the quaternion is zero")
    w, x, y, z = (q / norm for q in quaternion)
    return wrap_degrees(math.degrees(math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))))


def read_rig(calibration: Path, height_m: float) -> FordRig:
    """The front-left camera of Ford's calibration folder (Calibration-V2/V2)."""
    path = calibration / "cameraFrontLeft_body.yaml"
    keys = [f"transform.translation.{axis}" for axis in "xyz"] + [f"transform.rotation.{axis}" for axis in "wxyz"]
    forward, right, _, w, x, y, z = yaml_numbers(path, keys)
    # the optical axis (camera z) in the body frame: the third column of the camera-to-body rotation
    yaw = math.degrees(math.atan2(2 * (y * z - w * x), 2 * (x * z + w * y)))
    intrinsics = calibration / "cameraFrontLeftIntrinsics.yaml"
    K = yaml_numbers(intrinsics, ["K"])
    if len(K) != 9 or not (K[0] > 0 and K[4] > 0):
        raise InputError(f"{intrinsics}: K is not a 3x3 matrix with positive focal lengths")
    fx, _, cx, _, fy, cy, *_ = K
    return FordRig(forward, right, yaw, (fx, fy, cx, cy), height_m)


def yaml_numbers(path: Path, keys: list[str]) -> list[float]:
    """The numbers at `keys` ('transform.translation.x', or a list such as 'K') of a YAML file, in order."""
    require(path, "Ford calibration file")
    try:
        storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError):  # OpenCV's parse errors surface as either
        raise InputError(f"{path}: not a YAML file OpenCV can read") from None
    values = []
    for key in keys:
        node = storage.root()
        for part in key.split("."):
            node = node.getNode(part) if node.isMap() else cv2.FileNode()
        items = [node.at(i) for i in range(node.size())] if node.isSeq() else [node]
        if node.empty() or not all(item.isReal() or item.isInt() for item in items):
            raise InputError(f"{path}: no numbers at {key}")
        values.extend(item.real() for item in items)
    return values
