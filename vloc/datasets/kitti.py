"""KITTI odometry: one sequence of rectified greyscale images with its calibration and camera-to-world poses.

Two layouts are read: KITTI's own (`sequences/XX/image_0/`, `sequences/XX/calib.txt` with `P0:` labels, the poses in
`poses/XX.txt` beside `sequences/`) and a flat folder (`image_0/` or `image_l/`, `calib.txt`, `poses.txt`, as
../shared/data/kitti_odometry_seq1). Even frames map, odd frames are queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap

from vloc.datasets.base import Prepared
from vloc.errors import FormatError, InputError
from vloc.geometry.rigid3d import cam_from_world_of
from vloc.io.images import image_size
from vloc.io.text import read_utf8

IMAGE_FOLDERS = ("image_0", "image_l")  # the left greyscale camera: KITTI's name, then the flat copy's


@dataclass
class KittiOdometry:
    root: Path  # the sequence folder
    poses: Path | None = None  # default: root/poses.txt, else KITTI's poses/<sequence>.txt
    thresholds: tuple[tuple[float, float], ...] = ((0.05, 0.1), (0.1, 0.25), (0.5, 1.0))

    def load(self) -> Prepared:
        image_root = next((self.root / f for f in IMAGE_FOLDERS if (self.root / f).is_dir()), None)
        if image_root is None:
            raise InputError(f"{self.root}: no {' or '.join(IMAGE_FOLDERS)} image folder (a KITTI odometry sequence)")
        names = sorted(p.name for p in image_root.glob("*.png"))
        if not names:
            raise InputError(f"{image_root}: no .png images")
        poses_path = self.poses or self.default_poses()
        world_from_cams = read_poses(poses_path)
        if len(world_from_cams) != len(names):
            raise FormatError(f"{poses_path}: {len(world_from_cams)} poses for the {len(names)} images of {image_root}")
        camera = read_left_camera(self.root / "calib.txt", *image_size(image_root / names[0]))
        return Prepared(
            name="kitti",
            image_root=image_root,
            mapping=names[0::2],
            queries=names[1::2],
            cameras=dict.fromkeys(names, camera),
            poses={name: cam_from_world_of(pose) for name, pose in zip(names, world_from_cams)},
            thresholds=list(self.thresholds),
        )

    def default_poses(self) -> Path:
        """root/poses.txt, else KITTI's dataset/poses/<sequence>.txt for root dataset/sequences/<sequence>."""
        for path in (self.root / "poses.txt", self.root.parent.parent / "poses" / f"{self.root.name}.txt"):
            if path.is_file():
                return path
        raise InputError(f"{self.root}: no poses.txt, nor {self.root.parent.parent / 'poses' / self.root.name}.txt")


def read_poses(path: Path) -> list[np.ndarray]:
    """4x4 world-from-camera matrices, from 12 numbers per line (the 3x4 matrix row by row)."""
    poses = []
    for number, line in enumerate(read_utf8(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            values = np.array(line.split(), np.float64)
        except ValueError:
            raise FormatError(f"{path}:{number}: pose values are not numbers") from None
        if values.shape != (12,) or not np.isfinite(values).all():
            raise FormatError(f"{path}:{number}: expected the 12 finite numbers of a 3x4 camera-to-world matrix")
        poses.append(np.vstack([values.reshape(3, 4), [0, 0, 0, 1]]))
    return poses


def read_left_camera(path: Path, width: int, height: int) -> pycolmap.Camera:
    """The left greyscale camera from the first projection matrix of calib.txt ('P0:' label optional).

    KITTI's projections put the centre of the top-left pixel at (0, 0), COLMAP's at (0.5, 0.5): the principal
    point moves by +0.5.
    """
    if not path.is_file():
        raise InputError(f"{path}: calibration file not found")
    lines = [line.split() for line in read_utf8(path).splitlines() if line.strip()]
    tokens = lines[0][1:] if lines and lines[0][0].endswith(":") else (lines[0] if lines else [])
    try:
        P = np.array(tokens, np.float64).reshape(3, 4)
    except ValueError:
        raise FormatError(f"{path}:1: expected the 12 numbers of the left camera's 3x4 projection matrix") from None
    if not (np.isfinite(P).all() and P[0, 0] > 0 and P[1, 1] > 0):
        raise FormatError(f"{path}:1: the left camera's focal lengths are not positive numbers")
    params = [P[0, 0], P[1, 1], P[0, 2] + 0.5, P[1, 2] + 0.5]
    return pycolmap.Camera(model="PINHOLE", width=width, height=height, params=params)
