"""VisualSFM's NVM models (NVM_V3), the format RobotCar Seasons and Cambridge Landmarks ship their reference in.

The first model of the file is read (a file may hold several, each ending with its points); the conventions are
VisualSFM's, as hloc's colmap_from_nvm and COLMAP's NVM export read and write them:
- a camera is `name focal qw qx qy qz cx cy cz radial 0`: the quaternion is the rotation of cam_from_world (world to
  camera), (cx, cy, cz) the camera centre in the world, so the translation is -R c;
- `radial` distorts measurements, in pixels: a measured point d (pixels from the image centre) is undistorted to
  d (1 + radial |d|^2); focal and principal point are those of the measured image, the principal point its centre;
- a point is `x y z r g b n` and n measurements `image feature mx my`, (mx, my) the measured (distorted) position in
  pixels relative to the image centre.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pycolmap

from vloc.errors import FormatError, InputError
from vloc.geometry.rigid3d import cam_from_world_at
from vloc.io.images import IMAGE_SUFFIXES

HEADER = "NVM_V3"


@dataclass(frozen=True)
class NvmCamera:
    """One camera (image) of an NVM model."""

    name: str  # as written in the file (e.g. ./overcast-reference/rear/1417176458999821.png)
    focal: float  # pixels
    cam_from_world: pycolmap.Rigid3d
    radial: float  # VisualSFM's measurement distortion, 1 / pixels^2
    line: int  # where the file gives it, for messages


@dataclass
class NvmModel:
    """Cameras and points of an NVM model; measurements are indexed by point and image (a camera's position)."""

    path: Path
    cameras: list[NvmCamera]
    xyz: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (P, 3) points
    rgb: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.uint8))  # (P, 3)
    point_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (M,) measured point
    image_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (M,) measuring camera
    feature_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (M,) VisualSFM's feature
    xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (M, 2) pixels from the image centre


def read_nvm(path: Path, points: bool = True) -> NvmModel:
    """The first model of an NVM file; `points=False` stops after the cameras (RobotCar's all.nvm holds 6.8 million
    points the adapters do not need). One-line FormatErrors name the file and line."""
    if not path.is_file():
        raise InputError(f"{path}: NVM model not found")
    with path.open("rb") as handle:
        lines = _Lines(path, handle)
        number, tokens = lines.next("the NVM_V3 header")
        if tokens[0] != HEADER:
            raise FormatError(f"{path}:{number}: not an NVM model (the first line is not '{HEADER}')")
        cameras = [_camera(path, *lines.next(f"camera {i + 1} of {count}")) for i, count in lines.counted("cameras")]
        model = NvmModel(path, cameras)
        if points:
            _read_points(model, lines)
    return model


def measurement_pixels(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """NVM measurements (pixels from the image centre) in COLMAP's pixel coordinates, where the top-left pixel's
    centre is (0.5, 0.5) and so the image centre (width / 2, height / 2)."""
    return np.asarray(xy, np.float64) + [width / 2, height / 2]


def image_file_name(listed: str, images: Path) -> str | None:
    """An NVM camera's name (./seq1/frame00001.jpg) as the path of its image file under `images`: the listed file, else
    the one of the same name with another image extension (the published NVMs name .png files .jpg and .jpg files
    .png); None where there is neither."""
    name = PurePosixPath(listed)
    for candidate in (name, *(name.with_suffix(suffix) for suffix in IMAGE_SUFFIXES)):
        if (images / candidate).is_file():
            return str(candidate)
    return None


def colmap_camera(camera: NvmCamera, width: int, height: int) -> pycolmap.Camera:
    """The SIMPLE_RADIAL camera of an NVM camera for its image of `width` x `height` pixels: its focal, the image
    centre as principal point, and COLMAP's k (which distorts normalized points) fitted to VisualSFM's radial
    distortion (which undistorts measured pixels) over the image."""
    k = simple_radial_k(camera.radial * camera.focal**2, np.hypot(width, height) / 2 / camera.focal)
    return pycolmap.Camera(
        model="SIMPLE_RADIAL", width=width, height=height, params=[camera.focal, width / 2, height / 2, k]
    )


def simple_radial_k(radial_normalized: float, max_radius: float) -> float:
    """COLMAP's k (d = u (1 + k |u|^2)) closest, in least squares over distorted radii up to `max_radius`, to
    VisualSFM's undistortion u = d (1 + radial_normalized |d|^2) (normalized coordinates); -radial_normalized to first
    order."""
    distorted = np.linspace(0, max_radius, 101)[1:]
    undistorted = distorted * (1 + radial_normalized * distorted**2)
    return float(np.sum(undistorted**3 * (distorted - undistorted)) / np.sum(undistorted**6))


class _Lines:
    """The non-blank lines of an open NVM file as (line number, tokens); errors name the file and line."""

    def __init__(self, path: Path, handle) -> None:
        self.path, self.lines, self.number = path, iter(handle), 0

    def next(self, what: str) -> tuple[int, list[str]]:
        for raw in self.lines:
            self.number += 1
            try:
                tokens = raw.decode("utf-8-sig" if self.number == 1 else "utf-8").split()
            except UnicodeDecodeError:
                raise FormatError(f"{self.path}:{self.number}: not UTF-8 text") from None
            if tokens:
                return self.number, tokens
        raise FormatError(f"{self.path}:{self.number}: the file ends before {what} (truncated?)")

    def counted(self, what: str) -> Iterator[tuple[int, int]]:
        """(i, count) for i < count, where count is the next line's single number of `what`."""
        number, tokens = self.next(f"the number of {what}")
        if len(tokens) != 1 or not tokens[0].isdigit():
            raise FormatError(f"{self.path}:{number}: expected the number of {what}, got {' '.join(tokens)!r}")
        count = int(tokens[0])
        return ((i, count) for i in range(count))


def _numbers(path: Path, number: int, tokens: list[str], what: str) -> np.ndarray:
    try:
        values = np.array(tokens, np.float64)
    except ValueError:
        raise FormatError(f"{path}:{number}: {what} holds a value that is not a number") from None
    if not np.isfinite(values).all():
        raise FormatError(f"{path}:{number}: {what} holds a value that is not finite")
    return values


def _camera(path: Path, number: int, tokens: list[str]) -> NvmCamera:
    """`name focal qw qx qy qz cx cy cz radial 0` (the final 0 may be missing)."""
    if len(tokens) not in (10, 11):
        raise FormatError(
            f"{path}:{number}: expected a camera 'name focal qw qx qy qz cx cy cz radial 0', got {len(tokens)} fields"
        )
    focal, qw, qx, qy, qz, cx, cy, cz, radial = _numbers(path, number, tokens[1:10], "the camera")
    if focal <= 0 or np.linalg.norm([qw, qx, qy, qz]) < 1e-6:
        raise FormatError(f"{path}:{number}: camera {tokens[0]} has a focal length <= 0 or a zero quaternion")
    cam_from_world = cam_from_world_at([qw, qx, qy, qz], [cx, cy, cz])
    return NvmCamera(tokens[0], float(focal), cam_from_world, float(radial), number)


def _read_points(model: NvmModel, lines: _Lines) -> None:
    """Fill `model` with the points after its cameras: `x y z r g b n` and n measurements `image feature mx my`."""
    path, num_images = model.path, len(model.cameras)
    xyz, rgb, measurements, points = [], [], [], []
    for i, count in lines.counted("points"):
        number, tokens = lines.next(f"point {i + 1} of {count}")
        values = _numbers(path, number, tokens, "the point")
        measured = int(values[6]) if len(values) >= 7 and values[6] == int(values[6]) else -1
        if measured < 0 or len(values) != 7 + 4 * measured:
            raise FormatError(
                f"{path}:{number}: expected a point 'x y z r g b n' and n measurements 'image feature x y', got "
                f"{len(tokens)} fields"
            )
        observed = values[7:].reshape(measured, 4)
        if ((observed[:, 0] < 0) | (observed[:, 0] >= num_images) | (observed[:, 0] != np.round(observed[:, 0]))).any():
            raise FormatError(f"{path}:{number}: a measurement names an image that is not one of the {num_images}")
        xyz.append(values[:3])
        rgb.append(values[3:6])
        measurements.append(observed)
        points.append(np.full(measured, i))
    if xyz:
        model.xyz, model.rgb = np.array(xyz), np.clip(np.array(rgb), 0, 255).astype(np.uint8)
        observed = np.concatenate(measurements)
        model.point_index = np.concatenate(points).astype(np.int64)
        model.image_index, model.feature_index = observed[:, 0].astype(np.int64), observed[:, 1].astype(np.int64)
        model.xy = observed[:, 2:]
