"""RobotCar Seasons v2 (visuallocalization.net), in its published layout (that of hloc's pipelines/RobotCar):

    images/<condition>/{left,rear,right}/<timestamp>.jpg   overcast-reference maps; dawn, night, sun, ... are queries
    3D-models/all-merged/all.nvm                            the reference model (./overcast-reference/rear/<t>.png)
    intrinsics/{left,rear,right}_intrinsics.txt             'fx 400.0', 'fy ...', 'cx ...', 'cy ...', one per line
    robotcar_v2_test.txt                                    the v2 test queries, 'rear/<timestamp>.png' per line

Mapping images are the NVM's cameras (their files are .jpg where the NVM says .png), posed by the NVM (cam_from_world:
its quaternion, t = -R c). Queries are robotcar_v2_test.txt's, found in the condition folder that holds them (their
condition). Every image of a camera has the intrinsics of its file (the images are undistorted; the intrinsics'
principal point is used as COLMAP's, as hloc and kapture do) at the size of its images (1024 x 1024 in the dataset).
The server names a query rear/<timestamp>.jpg (hloc's prepend_camera_name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pycolmap

from vloc.datasets.base import Prepared, require
from vloc.errors import FormatError, InputError
from vloc.io.images import image_size
from vloc.io.nvm import image_file_name, read_nvm
from vloc.io.text import read_utf8

REFERENCE = "overcast-reference"
CAMERAS = ("left", "rear", "right")
INTRINSICS = ("fx", "fy", "cx", "cy")


@dataclass
class RobotCarSeasons:
    root: Path  # the dataset folder: images/, 3D-models/, intrinsics/, robotcar_v2_test.txt
    thresholds: tuple[tuple[float, float], ...] = ((0.25, 2.0), (0.5, 5.0), (5.0, 10.0))  # the server's

    def load(self) -> Prepared:
        images = require(self.root / "images", "RobotCar Seasons images folder")
        test_list = require(self.root / "robotcar_v2_test.txt", "RobotCar Seasons v2 query list")
        queries = read_test_queries(test_list, images)
        nvm_path = require(self.root / "3D-models" / "all-merged" / "all.nvm", "RobotCar Seasons reference model")
        poses = {}
        for camera in read_nvm(nvm_path, points=False).cameras:
            name = image_name(camera.name, images)
            if PurePosixPath(name).parent.name not in CAMERAS:
                raise FormatError(f"{nvm_path}:{camera.line}: {camera.name} is in no {'/'.join(CAMERAS)} folder")
            poses[name] = camera.cam_from_world
        mapping = sorted(set(poses) - set(queries))
        cameras = camera_intrinsics(self.root / "intrinsics", images, mapping + queries)
        return Prepared(
            name="robotcar-seasons-v2",
            image_root=images,
            mapping=mapping,
            queries=queries,
            cameras=cameras,
            poses={name: poses[name] for name in mapping},
            thresholds=list(self.thresholds),
            conditions={name: PurePosixPath(name).parts[0] for name in queries},
            submission_names="parent/basename",
        )


def image_name(listed: str, images: Path) -> str:
    """An NVM name (./condition/camera/<t>.png) as the image file's path under images/: the file found, else .jpg."""
    return image_file_name(listed, images) or str(PurePosixPath(listed).with_suffix(".jpg"))


def read_test_queries(path: Path, images: Path) -> list[str]:
    """The query images of robotcar_v2_test.txt ('rear/<t>.png', or with its condition first), each as the .jpg of
    the one condition folder that holds it."""
    found: dict[tuple[str, str], list[str]] = {}
    for camera in CAMERAS:
        for file in sorted(images.glob(f"*/{camera}/*.jpg")):
            if file.parent.parent.name != REFERENCE:
                found.setdefault((camera, file.stem), []).append(file.relative_to(images).as_posix())
    queries = []
    for number, line in enumerate(read_utf8(path).splitlines(), 1):
        if not line.strip():
            continue
        listed = PurePosixPath(line.split()[0])
        if len(listed.parts) not in (2, 3) or listed.parent.name not in CAMERAS:
            raise FormatError(f"{path}:{number}: expected 'camera/<timestamp>.png' with camera one of {CAMERAS}")
        names = found.get((listed.parent.name, listed.stem), [])
        if len(listed.parts) == 3:
            names = [n for n in names if PurePosixPath(n).parts[0] == listed.parts[0]]
        if len(names) != 1:
            where = "no" if not names else f"{len(names)} ({', '.join(names)})"
            raise InputError(f"{path}:{number}: {listed} is in {where} images/<condition>/{listed.parent.name}/ folder")
        queries.append(names[0])
    if len(set(queries)) != len(queries):
        raise FormatError(f"{path}: lists a query twice")
    return queries


def camera_intrinsics(folder: Path, images: Path, names: list[str]) -> dict[str, pycolmap.Camera]:
    """Each image's PINHOLE camera: its camera's intrinsics file at the size of that camera's first image."""
    cameras: dict[str, pycolmap.Camera] = {}
    by_side: dict[str, pycolmap.Camera] = {}
    for name in names:
        side = PurePosixPath(name).parent.name
        if side not in by_side:
            size = image_size(images / name)
            params = read_intrinsics(require(folder / f"{side}_intrinsics.txt", f"{side} camera intrinsics"))
            by_side[side] = pycolmap.Camera(model="PINHOLE", width=size[0], height=size[1], params=params)
        cameras[name] = by_side[side]
    return cameras


def read_intrinsics(path: Path) -> list[float]:
    """fx, fy, cx, cy from RobotCar's 'fx 400.000000' lines (other lines are ignored)."""
    values: dict[str, float] = {}
    for number, line in enumerate(read_utf8(path).splitlines(), 1):
        tokens = line.split()
        if tokens and tokens[0] in INTRINSICS:
            try:
                values[tokens[0]] = float(tokens[1]) if len(tokens) == 2 else float("nan")
            except ValueError:
                values[tokens[0]] = float("nan")
            if not values[tokens[0]] > 0:
                raise FormatError(f"{path}:{number}: expected '{tokens[0]} <positive number>', got {line.strip()!r}")
    missing = [key for key in INTRINSICS if key not in values]
    if missing:
        raise FormatError(f"{path}: no {', '.join(missing)} line (expected 'fx 400.0', 'fy ...', 'cx ...', 'cy ...')")
    return [values[key] for key in INTRINSICS]
