"""Cambridge Landmarks (PoseNet's dataset), one scene folder as published:

    dataset_train.txt, dataset_test.txt   three header lines, then 'seqN/frameXXXXX.png X Y Z W P Q R' per image
    seqN/frameXXXXX.png                   the frames (1920 x 1080)
    reconstruction.nvm                    VisualSFM's model of the scene (its names end in .jpg)

Mapping images are dataset_train.txt's, queries dataset_test.txt's; both files give ground truth: X Y Z is the camera
centre in the world and W P Q R the quaternion (w, x, y, z) of the cam_from_world rotation, as in the NVM they come
from (t = -R c). Intrinsics are the NVM camera's of the same frame (matched by name without extension): its focal,
the image centre as principal point and its radial distortion as COLMAP's SIMPLE_RADIAL k, at the size of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pycolmap

from vloc.datasets.base import Prepared, require
from vloc.errors import FormatError, InputError
from vloc.geometry.rigid3d import cam_from_world_at
from vloc.io.images import image_size
from vloc.io.nvm import colmap_camera, read_nvm
from vloc.io.text import read_utf8

HEADER = "ImageFile"  # the start of the header's last line, 'ImageFile, Camera Position [X Y Z W P Q R]'


@dataclass
class CambridgeLandmarks:
    root: Path  # one scene folder, e.g. KingsCollege/
    # Cambridge has no official thresholds: papers report median errors; these are the outdoor benchmarks' three.
    thresholds: tuple[tuple[float, float], ...] = ((0.25, 2.0), (0.5, 5.0), (5.0, 10.0))

    def load(self) -> Prepared:
        train = read_poses(require(self.root / "dataset_train.txt", "Cambridge Landmarks training list"))
        test = read_poses(require(self.root / "dataset_test.txt", "Cambridge Landmarks test list"))
        both = sorted(set(train) & set(test))
        if both:
            raise FormatError(f"{self.root}: {both[0]} is in both dataset_train.txt and dataset_test.txt")
        nvm_path = require(self.root / "reconstruction.nvm", "Cambridge Landmarks reconstruction")
        by_stem = {_stem(camera.name): camera for camera in read_nvm(nvm_path, points=False).cameras}
        cameras = {}
        for name in [*train, *test]:
            camera = by_stem.get(_stem(name))
            if camera is None:
                raise InputError(f"{nvm_path}: no camera for {name}, so no intrinsics")
            cameras[name] = colmap_camera(camera, *image_size(self.root / name))
        return Prepared(
            name=f"cambridge-{self.root.name}",
            image_root=self.root,
            mapping=list(train),
            queries=list(test),
            cameras=cameras,
            poses=train | test,
            thresholds=list(self.thresholds),
        )


def _stem(name: str) -> str:
    """A frame's path without extension (seq1/frame00001), to match the NVM's .jpg names with the .png files."""
    return str(PurePosixPath(name).with_suffix(""))


def read_poses(path: Path) -> dict[str, pycolmap.Rigid3d]:
    """cam_from_world by name from a dataset_*.txt: header lines up to 'ImageFile, ...', then 'name X Y Z W P Q R'
    (camera centre, cam_from_world quaternion)."""
    lines = list(enumerate(read_utf8(path).splitlines(), 1))
    start = next((i + 1 for i, (_, line) in enumerate(lines[:3]) if line.startswith(HEADER)), None)
    if start is None:
        raise FormatError(f"{path}: not a Cambridge Landmarks pose list (no '{HEADER}, Camera Position' header line)")
    poses: dict[str, pycolmap.Rigid3d] = {}
    for number, line in lines[start:]:
        tokens = line.split()
        if not tokens:
            continue
        try:
            values = np.array(tokens[1:], np.float64)
        except ValueError:
            values = np.array([])
        if values.shape != (7,) or not np.isfinite(values).all() or np.linalg.norm(values[3:]) < 1e-6:
            raise FormatError(
                f"{path}:{number}: expected 'name X Y Z W P Q R', 7 finite numbers, a non-zero quaternion"
            )
        if tokens[0] in poses:
            raise FormatError(f"{path}:{number}: {tokens[0]} is listed twice")
        poses[tokens[0]] = cam_from_world_at(values[3:], values[:3])
    if not poses:
        raise FormatError(f"{path}: lists no image")
    return poses
