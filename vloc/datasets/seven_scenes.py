"""Microsoft 7-Scenes (one scene, as in ../shared/data/7scenes_redkitchen_subset)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap

from vloc.datasets.base import Prepared, require
from vloc.errors import ConfigError, FormatError
from vloc.geometry.rigid3d import cam_from_world_of
from vloc.io.text import read_image_list

SPLITS = {"easy": ("mapping.txt", "query.txt"), "hard": ("mapping_first_half.txt", "query_second_half_revisits.txt")}


@dataclass
class SevenScenes:
    root: Path  # holds frames/ and splits/
    split: str = "easy"
    thresholds: tuple[tuple[float, float], ...] = ((0.02, 2.0), (0.05, 5.0), (0.10, 10.0))

    def load(self) -> Prepared:
        if self.split not in SPLITS:
            raise ConfigError(f"7scenes split must be one of {', '.join(SPLITS)}, not '{self.split}'")
        frames = require(self.root / "frames", "7-Scenes frames folder")
        mapping, queries = (read_image_list(self.root / "splits" / f) for f in SPLITS[self.split])
        # The colour camera (the 585 in camera-intrinsics.depth-camera.txt is the depth camera's).
        camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=640, height=480, params=[525.0, 320.0, 240.0])
        poses = {name: _read_pose(frames / name.replace(".color.jpg", ".pose.txt")) for name in mapping + queries}
        return Prepared(
            name=f"7scenes-{self.root.name}-{self.split}",
            image_root=frames,
            mapping=mapping,
            queries=queries,
            cameras=dict.fromkeys(mapping + queries, camera),
            poses=poses,
            thresholds=list(self.thresholds),
        )


def depth_camera(root: Path) -> pycolmap.Camera:
    """The depth camera of camera-intrinsics.depth-camera.txt (a 3x3 K; its images are 640x480)."""
    path = require(root / "camera-intrinsics.depth-camera.txt", "7-Scenes depth camera intrinsics")
    try:
        K = np.loadtxt(path).reshape(3, 3)
    except ValueError:
        raise FormatError(f"{path}: expected a 3x3 calibration matrix") from None
    return pycolmap.Camera(model="PINHOLE", width=640, height=480, params=[K[0, 0], K[1, 1], K[0, 2], K[1, 2]])


def depth_path(image: Path) -> Path:
    """The depth map of a colour frame: frame-NNNNNN.depth.png beside frame-NNNNNN.color.jpg."""
    return image.with_name(image.name.replace(".color.jpg", ".depth.png"))


def _read_pose(path: Path) -> pycolmap.Rigid3d:
    """pose.txt is camera-to-world (T_wc); invert it to cam_from_world with R projected onto SO(3) (orthonormal
    only to ~5e-4 in the files) first, so that the camera centre stays exactly the file's."""
    try:
        world_from_cam = np.loadtxt(require(path, "7-Scenes pose file")).reshape(4, 4)
    except ValueError:
        raise FormatError(f"{path}: expected a 4x4 matrix") from None
    return cam_from_world_of(world_from_cam)
