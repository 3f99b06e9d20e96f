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
from vloc.io.model import read_model
from vloc.models.scr import STRIDE, pinhole_matrix


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


def read_labels(frame: CoordinateFrame) -> tuple[np.ndarray, np.ndarray]:
    """Scene coordinates (H, W, 3) and depth (H, W) of a frame; a one-line error naming the file if either is missing
    or not of the image's size."""
    path = frame.labels
    if not path.is_file():
        raise InputError(f"{path}: labels (scene coordinates and depth) not found for {frame.image}")
    try:
        with np.load(path) as data:
            missing = [key for key in ("scene_coordinates", "depth") if key not in data]
            if missing:
                raise FormatError(f"{path}: no {' or '.join(missing)} array for {frame.image}")
            coordinates, depth = data["scene_coordinates"], data["depth"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise FormatError(f"{path}: not a readable labels file ({error})") from None
    size = (frame.camera.height, frame.camera.width)
    if coordinates.shape != (*size, 3) or depth.shape != size:
        raise FormatError(f"{path}: labels of shape {coordinates.shape[:2]}, the image is {size[0]}x{size[1]}")
    return coordinates, depth


class CoordinateSamples(Dataset):
    """Frames as tensors: image (3, H, W) in [0, 1] cropped to multiples of 8, and at the cells (8 j + 4, 8 i + 4)
    scene coordinates (3, h, w; nan where unknown) and depth (1, h, w; nan where unknown), with K and cam_from_world."""

    def __init__(self, frames: list[CoordinateFrame]):
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict:
        frame = self.frames[index]
        image = cv2.imread(str(frame.image), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"{frame.image}: not a readable image")
        coordinates, depth = read_labels(frame)
        height, width = (s - s % STRIDE for s in image.shape[:2])
        cells = (slice(STRIDE // 2, height, STRIDE), slice(STRIDE // 2, width, STRIDE))
        cell_depth = depth[cells].astype(np.float32)
        return {
            "image": torch.from_numpy(cv2.cvtColor(image[:height, :width], cv2.COLOR_BGR2RGB)).permute(2, 0, 1) / 255,
            "coordinates": torch.from_numpy(np.ascontiguousarray(coordinates[cells].transpose(2, 0, 1))).float(),
            "depth": torch.from_numpy(np.where(cell_depth > 0, cell_depth, np.nan))[None],
            "K": torch.from_numpy(pinhole_matrix(frame.camera)).float(),
            "cam_from_world": torch.from_numpy(frame.cam_from_world.matrix()).float(),
            "name": str(frame.image),
        }
