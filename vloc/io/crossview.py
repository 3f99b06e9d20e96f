"""Cross-view datasets (crossview.json): aerial images with their scale, ground views with intrinsics, camera height,
ground-truth and prior poses on the aerial image's ground plane; and tiles cut from an aerial image around a prior.

Poses are planar: x and y in metres along the aerial image's columns and rows from its top-left corner, yaw in
degrees from +x towards +y (clockwise on screen; 0 = the camera looks along the columns, 90 = down the rows)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vloc.errors import InputError
from vloc.io.images import read_image
from vloc.io.text import write_text_atomic

FORMAT = "vloc-crossview-1"
CAMERA_MODELS = {"SIMPLE_PINHOLE": 3, "PINHOLE": 4, "EQUIRECTANGULAR": 0}


@dataclass(frozen=True)
class PlanarPose:
    """A camera on the aerial image's ground plane: position in metres, heading in degrees."""

    x: float
    y: float
    yaw: float

    def to_json(self) -> dict:
        return {"x": self.x, "y": self.y, "yaw_deg": self.yaw}

    def moved(self, forward: float, right: float, turn: float = 0.0) -> PlanarPose:
        """This pose moved `forward` metres along its heading and `right` metres to its right (rows point down), then
        turned by `turn` degrees (as yaw: clockwise on the image)."""
        heading = math.radians(self.yaw)
        x = self.x + forward * math.cos(heading) - right * math.sin(heading)
        y = self.y + forward * math.sin(heading) + right * math.cos(heading)
        return PlanarPose(x, y, wrap_degrees(self.yaw + turn))

    def errors_to(self, truth: PlanarPose) -> dict[str, float]:
        """Distance, its lateral and longitudinal parts along the true heading (metres) and the yaw error (degrees)."""
        dx, dy = self.x - truth.x, self.y - truth.y
        heading = math.radians(truth.yaw)
        return {
            "distance_m": math.hypot(dx, dy),
            "lateral_m": abs(-math.sin(heading) * dx + math.cos(heading) * dy),
            "longitudinal_m": abs(math.cos(heading) * dx + math.sin(heading) * dy),
            "yaw_deg": abs(wrap_degrees(self.yaw - truth.yaw)),
        }


def random_prior(rng: np.random.Generator, pose: PlanarPose, offset: float, yaw: float) -> PlanarPose:
    """`pose` moved uniformly within +-offset metres along and across its heading and turned within +-yaw degrees
    (three draws of `rng`: along, across, turn), as the published protocols perturb the ground truth."""
    along, across = rng.uniform(-1, 1, 2) * offset
    return pose.moved(along, across, rng.uniform(-1, 1) * yaw)


def wrap_degrees(angle: float) -> float:
    """`angle` in (-180, 180]."""
    return -((-angle + 180) % 360 - 180)


@dataclass(frozen=True)
class GroundCamera:
    """Intrinsics of a ground image: SIMPLE_PINHOLE (f, cx, cy), PINHOLE (fx, fy, cx, cy), or EQUIRECTANGULAR (a
    full panorama, no parameters: the image centre looks forward, columns span 360 deg, rows 180 deg)."""

    model: str
    width: int
    height: int
    params: tuple[float, ...]

    def scaled(self, width: int, height: int) -> GroundCamera:
        """The camera of the image resized to width x height."""
        sx, sy = width / self.width, height / self.height
        scale = {"SIMPLE_PINHOLE": (sx, sx, sy), "PINHOLE": (sx, sy, sx, sy), "EQUIRECTANGULAR": ()}[self.model]
        if self.model == "SIMPLE_PINHOLE" and abs(sx - sy) > 1e-3 * max(sx, sy):
            f, cx, cy = self.params
            return GroundCamera("PINHOLE", width, height, (f * sx, f * sy, cx * sx, cy * sy))
        return GroundCamera(self.model, width, height, tuple(p * s for p, s in zip(self.params, scale)))

    def to_json(self) -> dict:
        return {"model": self.model, "width": self.width, "height": self.height, "params": list(self.params)}


@dataclass(frozen=True)
class Aerial:
    """An aerial (satellite) image and its ground sampling distance."""

    image: str  # path relative to the dataset root
    metres_per_pixel: float


@dataclass(frozen=True)
class GroundView:
    image: str  # path relative to the dataset root
    aerial: str  # key of its aerial image
    camera: GroundCamera
    camera_height: float  # metres above the ground
    pose: PlanarPose | None  # ground truth, where known
    prior: PlanarPose | None  # the rough pose localization starts from
    condition: str = ""
    split: str = ""

    def to_json(self) -> dict:
        entry = {
            "image": self.image,
            "aerial": self.aerial,
            "camera": self.camera.to_json(),
            "camera_height_m": self.camera_height,
        }
        entry.update({key: pose.to_json() for key, pose in (("pose", self.pose), ("prior", self.prior)) if pose})
        entry.update({key: value for key, value in (("condition", self.condition), ("split", self.split)) if value})
        return entry


@dataclass
class CrossviewDataset:
    root: Path  # where the image paths start: the folder of crossview.json, or its image_root
    aerials: dict[str, Aerial]
    views: list[GroundView]

    def select(self, split: str | None = None, condition: str | None = None) -> list[GroundView]:
        """The views of one split and condition (None: any)."""
        return [
            v
            for v in self.views
            if (split is None or v.split == split) and (condition is None or v.condition == condition)
        ]

    def aerial_image(self, name: str) -> np.ndarray:
        """The RGB aerial image `name`."""
        return read_image(self.root / self.aerials[name].image, grayscale=False)

    def ground_image(self, view: GroundView) -> np.ndarray:
        image = read_image(self.root / view.image, grayscale=False)
        if image.shape[:2] != (view.camera.height, view.camera.width):
            raise InputError(
                f"{self.root / view.image}: image is {image.shape[1]}x{image.shape[0]}, its camera in "
                f"{self.root / 'crossview.json'} says {view.camera.width}x{view.camera.height}"
            )
        return image


def _pose(entry: object, where: str) -> PlanarPose:
    try:
        pose = PlanarPose(float(entry["x"]), float(entry["y"]), float(entry["yaw_deg"]))  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        raise InputError(f"{where}: a pose needs numbers x, y (metres) and yaw_deg") from None
    if not all(math.isfinite(v) for v in (pose.x, pose.y, pose.yaw)):
        raise InputError(f"{where}: pose is not finite")
    return pose


def _camera(entry: object, where: str) -> GroundCamera:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: no camera intrinsics (camera: model, width, height, params)")
    model = entry.get("model")
    if model not in CAMERA_MODELS:
        raise InputError(f"{where}: camera model {model!r} is not one of {', '.join(CAMERA_MODELS)}")
    try:
        width, height = int(entry["width"]), int(entry["height"])
        params = tuple(float(p) for p in entry.get("params", []))
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{where}: camera needs integer width and height and numeric params") from None
    if len(params) != CAMERA_MODELS[model] or width < 1 or height < 1:
        raise InputError(f"{where}: {model} camera needs {CAMERA_MODELS[model]} params and a positive size")
    if model != "EQUIRECTANGULAR" and params[0] <= 0:
        raise InputError(f"{where}: focal length must be positive")
    return GroundCamera(model, width, height, params)


def read_crossview(root: Path) -> CrossviewDataset:
    """The dataset in `root`/crossview.json; one line naming the file and the entry where something is missing."""
    path = root / "crossview.json"
    if not path.exists():
        raise InputError(f"{path}: not found (a cross-view dataset needs crossview.json)")
    try:
        info = json.loads(path.read_text())
    except ValueError as error:
        raise InputError(f"{path}: not JSON ({error})") from None
    if not isinstance(info, dict) or info.get("vloc_format") != FORMAT:
        raise InputError(f"{path}: not a {FORMAT} file")
    listed_aerials, listed_views = info.get("aerial") or {}, info.get("views") or []
    if not isinstance(listed_aerials, dict) or not isinstance(listed_views, list):
        raise InputError(f"{path}: 'aerial' must map names to aerial images and 'views' must be a list")
    aerials = {}
    for name, entry in listed_aerials.items():
        where = f"{path}: aerial {name!r}"
        scale = entry.get("metres_per_pixel") if isinstance(entry, dict) else None
        if not isinstance(scale, int | float) or not scale > 0:
            raise InputError(f"{where} has no scale (metres_per_pixel > 0)")
        if not isinstance(entry.get("image"), str):
            raise InputError(f"{where} has no image path")
        aerials[name] = Aerial(entry["image"], float(scale))
    views = []
    for index, entry in enumerate(listed_views):
        where = f"{path}: view {index} ({entry.get('image', '?') if isinstance(entry, dict) else '?'})"
        if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
            raise InputError(f"{where} has no image path")
        if not isinstance(entry.get("aerial"), str) or entry["aerial"] not in aerials:
            raise InputError(f"{where}: its aerial image {entry.get('aerial')!r} is not listed under 'aerial'")
        height = entry.get("camera_height_m")
        if not isinstance(height, int | float) or not height > 0:
            raise InputError(f"{where} has no camera height (camera_height_m > 0)")
        views.append(
            GroundView(
                entry["image"],
                entry["aerial"],
                _camera(entry.get("camera"), where),
                float(height),
                _pose(entry["pose"], where) if "pose" in entry else None,
                _pose(entry["prior"], where) if "prior" in entry else None,
                str(entry.get("condition", "")),
                str(entry.get("split", "")),
            )
        )
    if not views:
        raise InputError(f"{path}: lists no ground views")
    image_root = info.get("image_root")
    return CrossviewDataset(root / image_root if isinstance(image_root, str) else root, aerials, views)


def write_crossview(
    root: Path, aerials: dict[str, Aerial], views: list[GroundView], image_root: Path | None = None
) -> None:
    """Write `root`/crossview.json atomically; image paths are relative to `image_root` (default: `root`), which
    is stored relative to `root` where it can be."""
    info: dict = {"vloc_format": FORMAT}
    if image_root is not None and image_root.resolve() != root.resolve():
        absolute = image_root.resolve()
        try:
            info["image_root"] = absolute.relative_to(root.resolve()).as_posix()
        except ValueError:
            info["image_root"] = str(absolute)
    info |= {
        "aerial": {k: {"image": a.image, "metres_per_pixel": a.metres_per_pixel} for k, a in aerials.items()},
        "views": [v.to_json() for v in views],
    }
    write_text_atomic(root / "crossview.json", json.dumps(info, indent=1) + "\n")


@dataclass(frozen=True)
class TileFrame:
    """Where a tile lies on its aerial image: centred on `centre` (a prior), its columns along the prior's heading."""

    centre: PlanarPose
    size: int  # pixels per side
    metres_per_pixel: float

    def to_aerial(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Aerial-plane metres of continuous tile pixel coordinates (u along columns, v along rows)."""
        yaw = math.radians(self.centre.yaw)
        du, dv = (u - self.size / 2) * self.metres_per_pixel, (v - self.size / 2) * self.metres_per_pixel
        return (
            self.centre.x + math.cos(yaw) * du - math.sin(yaw) * dv,
            self.centre.y + math.sin(yaw) * du + math.cos(yaw) * dv,
        )

    def pose_in_tile(self, pose: PlanarPose) -> tuple[float, float, float]:
        """(u, v, angle in radians) of an aerial-plane pose in tile pixels."""
        yaw = math.radians(self.centre.yaw)
        dx, dy = pose.x - self.centre.x, pose.y - self.centre.y
        u = (math.cos(yaw) * dx + math.sin(yaw) * dy) / self.metres_per_pixel + self.size / 2
        v = (-math.sin(yaw) * dx + math.cos(yaw) * dy) / self.metres_per_pixel + self.size / 2
        return u, v, math.radians(pose.yaw - self.centre.yaw)

    def pose_on_aerial(self, u: float, v: float, angle: float) -> PlanarPose:
        """The aerial-plane pose of a camera at tile pixel (u, v) heading `angle` radians from the tile's columns."""
        x, y = self.to_aerial(np.float64(u), np.float64(v))
        return PlanarPose(float(x), float(y), wrap_degrees(self.centre.yaw + math.degrees(angle)))


def prefiltered(aerial: np.ndarray, metres_per_pixel: float, tile_metres_per_pixel: float) -> np.ndarray:
    """`aerial` low-passed for tiles of a coarser ground sampling (a Gaussian of the area filter's width), so that
    their bilinear lookup does not alias; unchanged when the tiles are as fine or finer."""
    ratio = tile_metres_per_pixel / metres_per_pixel  # aerial pixels per tile pixel
    return cv2.GaussianBlur(aerial, (0, 0), 0.5 * math.sqrt(ratio * ratio - 1)) if ratio > 1.5 else aerial


def cut_tile(aerial: np.ndarray, metres_per_pixel: float, frame: TileFrame, where: str = "") -> np.ndarray:
    """The (size, size, 3) tile of `frame` resampled bilinearly from `aerial` (`prefiltered` first where the tile is
    coarser); pixels beyond the aerial image are black. Fails when the tile's centre is off the image."""
    height, width = aerial.shape[:2]
    cx, cy = frame.centre.x / metres_per_pixel, frame.centre.y / metres_per_pixel
    if not (0 <= cx <= width and 0 <= cy <= height):
        raise InputError(
            f"{where}: prior ({frame.centre.x:.1f}, {frame.centre.y:.1f}) m lies outside the aerial image "
            f"({width * metres_per_pixel:.1f} x {height * metres_per_pixel:.1f} m)"
        )
    u = np.arange(frame.size, dtype=np.float64) + 0.5
    uu, vv = np.meshgrid(u, u)
    x, y = frame.to_aerial(uu, vv)
    map_x = (x / metres_per_pixel - 0.5).astype(np.float32)
    map_y = (y / metres_per_pixel - 0.5).astype(np.float32)
    return cv2.remap(aerial, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
