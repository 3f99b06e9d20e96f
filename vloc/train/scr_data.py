"""Training frames of scene coordinate regression: an image, and at each output cell of the network (stride 8) the
scene coordinate and depth it sees, with the camera and its pose."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import torch
from torch.utils.data import Dataset

from vloc.errors import FormatError, InputError
from vloc.geometry.homography import apply_homography
from vloc.io.images import read_image
from vloc.io.model import read_model
from vloc.models.scr import STRIDE, cell_centres, input_size, pinhole_matrix


@dataclass(frozen=True)
class CoordinateFrame:
    """An image and its labels: a .npz with `scene_coordinates` (H, W, 3; nan where unknown) and `depth` (H, W; 0
    where unknown), both of the image's size, seen by a pinhole `camera` at `cam_from_world`."""

    image: Path
    labels: Path
    camera: pycolmap.Camera
    cam_from_world: pycolmap.Rigid3d


def synthetic_frames(root: Path, condition: str) -> list[CoordinateFrame]:
    """The frames of a `vloc synth` scene in one condition (its images share the day frames' geometry)."""
    if not (root / "scene.json").is_file():
        raise InputError(f"{root}: not a vloc synth folder (no scene.json)")
    model = read_model(root / "model")
    frames = []
    for image in sorted(model.images.values(), key=lambda image: image.name):
        found, frame = image.name.split("/", 1)
        if found != condition:
            continue
        camera = pycolmap.Camera(  # a copy: the model's own cameras die with it
            model=image.camera.model_name,
            width=image.camera.width,
            height=image.camera.height,
            params=image.camera.params,
        )
        labels = root / "geometry" / f"{Path(frame).stem}.npz"
        frames.append(CoordinateFrame(root / "images" / condition / frame, labels, camera, image.cam_from_world()))
    if not frames:
        raise InputError(f"{root}: no images of condition '{condition}' in its model")
    return frames


def read_labels(frame: CoordinateFrame, with_normals: bool = False) -> dict[str, np.ndarray]:
    """Scene coordinates (H, W, 3), depth (H, W) and, if asked, world normals (H, W, 3; 0 where unknown) of a frame; a
    one-line error naming the file if one is missing or not of the image's size."""
    path = frame.labels
    if not path.is_file():
        raise InputError(f"{path}: labels (scene coordinates and depth) not found for {frame.image}")
    keys = ("scene_coordinates", "depth", "normals") if with_normals else ("scene_coordinates", "depth")
    try:
        with np.load(path) as data:
            missing = [key for key in keys if key not in data]
            if missing:
                raise FormatError(f"{path}: no {' or '.join(missing)} array for {frame.image}")
            labels = {key: data[key] for key in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise FormatError(f"{path}: not a readable labels file ({error})") from None
    size = (frame.camera.height, frame.camera.width)
    if any(labels[key].shape[:2] != size for key in keys) or labels["depth"].shape != size:
        raise FormatError(
            f"{path}: labels of shape {labels['scene_coordinates'].shape[:2]}, the image is {size[0]}x{size[1]}"
        )
    for key in (key for key in keys if key != "depth"):  # scene coordinates and normals: three channels each
        if labels[key].shape != (*size, 3):
            raise FormatError(f"{path}: {key} of shape {labels[key].shape}, expected {size[0]}x{size[1]}x3")
    return labels


@dataclass(frozen=True)
class AugmentationConf:
    """DSAC*'s training augmentation: the camera rolled about its axis and zoomed (labels and focal follow), and the
    image's brightness and contrast jittered."""

    max_scale: float = 1.25  # zoom in [1 / max_scale, max_scale] (1: none)
    max_rotation: float = 15.0  # deg about the optical axis (0: none)
    brightness: float = 0.1  # added, in [-brightness, brightness] (images in [0, 1])
    contrast: float = 0.2  # multiplied, in [1 - contrast, 1 + contrast]


def roll(angle: float) -> np.ndarray:
    """The rotation by `angle` (rad) about the camera's optical axis."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def normal_angles_of(normals: np.ndarray) -> np.ndarray:
    """Camera-frame unit normals (..., 3) as (azimuth, elevation) = (atan2(y, -z), asin(x)) in radians, (..., 2); nan
    where the normal is unknown (0). Facing the camera is (0, 0), the floor seen by a level camera (-pi/2, 0); the
    poles, where azimuth is undefined, are surfaces seen edge-on (normal along the camera's x axis)."""
    known = np.linalg.norm(normals, axis=-1) > 0.5
    x, y, z = np.moveaxis(normals, -1, 0)
    angles = np.stack([np.arctan2(y, -z), np.arcsin(np.clip(x, -1, 1))], -1)
    return np.where(known[..., None], angles, np.nan)


def view_warp(
    camera: pycolmap.Camera, image_height: int, zoom: float, angle: float
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The view the network reads of a frame: resized to `image_height`, zoomed, rolled by `angle` (rad) about the
    optical axis. Returns the homography from the frame's pixels to the view's (K' R K^-1), the view's K and size."""
    base_size = input_size(camera.width, camera.height, image_height)
    width, height = round(base_size[0] * zoom), round(base_size[1] * zoom)
    K = pinhole_matrix(camera)
    view_K = np.diag([width / camera.width, height / camera.height, 1.0]) @ K
    return view_K @ roll(angle) @ np.linalg.inv(K), view_K, (width, height)


def at_cells(maps: dict[str, np.ndarray], warp: np.ndarray, size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Each (H, W, C) map at the frame pixel that each output cell of the warped view sees (nearest), as (C, h, w);
    nan where that pixel is outside the frame or the map is not finite there."""
    cells = cell_centres(size[1] // STRIDE, size[0] // STRIDE).double().numpy()  # (2, h, w)
    x, y = np.floor(apply_homography(np.linalg.inv(warp), cells.reshape(2, -1).T)).astype(int).T
    height, width = next(iter(maps.values())).shape[:2]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    x, y = np.where(inside, x, 0), np.where(inside, y, 0)
    picked = {}
    for key, values in maps.items():
        found = values[y, x].astype(np.float32)
        found[~inside | ~np.isfinite(found).all(1)] = np.nan
        picked[key] = torch.from_numpy(np.ascontiguousarray(found.T.reshape(-1, *cells.shape[1:])))
    return picked


class CoordinateSamples(Dataset):
    """Frames as the network reads them (resized to `image_height`, cropped to multiples of 8; with `augmentation`,
    rolled, zoomed and jittered), with their labels at the output cells: scene coordinates (3, h, w), depth (1, h,
    w), normals as camera-frame angles (2, h, w), nan where unknown; K and cam_from_world of the image as read."""

    def __init__(
        self,
        frames: list[CoordinateFrame],
        image_height: int = 0,
        augmentation: AugmentationConf | None = None,
        with_normals: bool = False,
    ):
        self.frames = frames
        self.image_height = image_height
        self.augmentation = augmentation
        self.with_normals = with_normals

    def __len__(self) -> int:
        return len(self.frames)

    def _uniform(self, count: int) -> np.ndarray:
        """Uniform draws in [-1, 1] from torch's generator (so a seeded run repeats); zeros without augmentation."""
        if self.augmentation is None:
            return np.zeros(count)
        return torch.rand(count).double().numpy() * 2 - 1

    def __getitems__(self, indices: list[int]) -> list[dict]:
        """A batch: one zoom for all its frames (so that they stack), the rest drawn per frame."""
        zoom = self.augmentation.max_scale ** self._uniform(1)[0] if self.augmentation else 1.0
        return [self.sample(index, zoom) for index in indices]

    def __getitem__(self, index: int) -> dict:
        return self.__getitems__([index])[0]

    def sample(self, index: int, zoom: float) -> dict:
        """Frame `index` zoomed by `zoom`, rolled and jittered if augmenting."""
        frame = self.frames[index]
        rgb = read_image(frame.image, grayscale=False)
        labels = read_labels(frame, self.with_normals)
        conf = self.augmentation or AugmentationConf(1.0, 0.0, 0.0, 0.0)
        roll_u, brightness_u, contrast_u = self._uniform(3)
        angle = np.deg2rad(conf.max_rotation) * roll_u
        warp, K, (width, height) = view_warp(frame.camera, self.image_height, zoom, angle)
        if width < frame.camera.width / 1.5:  # area-average first, so that a strong downscale does not alias
            rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
            warp_image = warp @ np.linalg.inv(np.diag([width / frame.camera.width, height / frame.camera.height, 1]))
        else:
            warp_image = warp
        rgb = cv2.warpPerspective(rgb, warp_image, (width, height), flags=cv2.INTER_LINEAR)
        rgb = np.clip(
            rgb.astype(np.float32) / 255 * (1 + conf.contrast * contrast_u) + conf.brightness * brightness_u, 0, 1
        )
        cam_from_world = roll(angle) @ frame.cam_from_world.matrix()  # the rolled camera's
        maps = {
            "coordinates": labels["scene_coordinates"],
            "depth": np.where(labels["depth"] > 0, labels["depth"], np.nan)[..., None],
        }
        if self.with_normals:
            maps["normals"] = normal_angles_of(labels["normals"] @ cam_from_world[:, :3].T)
        return {
            "image": torch.from_numpy(
                rgb[: height - height % STRIDE, : width - width % STRIDE].astype(np.float32)
            ).permute(2, 0, 1),
            **at_cells(maps, warp, (width, height)),
            "K": torch.from_numpy(K).float(),
            "cam_from_world": torch.from_numpy(cam_from_world).float(),
            "name": str(frame.image),
        }
