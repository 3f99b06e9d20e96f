"""Extended CMU Seasons (visuallocalization.net), one slice: the sliceN/ folder of the release.

A slice holds database/ and query/ images, sparse/ (the reference COLMAP model of the database images, named as in
database/), test-images-sliceN.txt (the query names) and, where the release has query poses, camera-poses/*.txt. Two
cameras took every image; a name's infix (`img_00122_c0_1303398475046031us.jpg`) says which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pycolmap

from vloc.datasets.base import Prepared, require
from vloc.datasets.generic import OUTDOOR_THRESHOLDS
from vloc.errors import FormatError, InputError
from vloc.io.model import model_cameras, model_poses, read_model
from vloc.io.text import read_image_list, read_poses

# The release's intrinsics.txt (as hloc's and kapture's CMU importers read it): OPENCV, fx fy cx cy k1 k2 p1 p2.
CAMERAS = {
    "c0": (868.993378, 866.063001, 525.942323, 420.042529, -0.399431, 0.188924, 0.000153, 0.000571),
    "c1": (873.382641, 876.489513, 529.324138, 397.272397, -0.397066, 0.181925, 0.000176, -0.000579),
}
IMAGE_SIZE = (1024, 768)
SCENES = {"urban": range(2, 9), "suburban": range(9, 18), "park": range(18, 26)}  # the release's README


@dataclass
class ExtendedCMUSeasons:
    root: Path  # one slice folder, sliceN
    thresholds: tuple[tuple[float, float], ...] = OUTDOOR_THRESHOLDS  # the server's

    def load(self) -> Prepared:
        number = slice_number(self.root)
        model = read_model(require(self.root / "sparse", "Extended CMU Seasons reference model folder"))
        cameras = {f"database/{name}": camera for name, camera in model_cameras(model).items()}
        poses = {f"database/{name}": pose for name, pose in model_poses(model).items()}
        query_list = require(self.root / f"test-images-slice{number}.txt", "Extended CMU Seasons query list")
        queries = [f"query/{name}" for name in read_image_list(query_list)]
        cameras |= {name: query_camera(name, query_list) for name in queries}
        truth = read_query_poses(self.root / "camera-poses")
        poses |= {name: truth[name] for name in queries if name in truth}
        scene = next(scene for scene, slices in SCENES.items() if number in slices)
        return Prepared(
            name=f"cmu-slice{number}",
            image_root=self.root,
            mapping=sorted(name for name in poses if name.startswith("database/")),
            queries=queries,
            cameras=cameras,
            poses=poses,
            thresholds=list(self.thresholds),
            conditions=dict.fromkeys(queries, scene),
            submission_names="basename",  # the server's file names no slice, only the image
        )


def slice_number(root: Path) -> int:
    """N of a folder named sliceN, N in 2-25."""
    match = re.fullmatch(r"slice(\d+)", root.name)
    if match is None or not any(int(match[1]) in slices for slices in SCENES.values()):
        raise InputError(f"{root}: not an Extended CMU Seasons slice folder (slice2 ... slice25)")
    return int(match[1])


def query_camera(name: str, query_list: Path) -> pycolmap.Camera:
    """The camera of an image, by the _c0_ / _c1_ infix of its name."""
    match = re.search(r"_(c\d+)_", Path(name).name)
    if match is None or match[1] not in CAMERAS:
        raise FormatError(f"{query_list}: query {Path(name).name} names neither camera (no _c0_ or _c1_ infix)")
    return pycolmap.Camera(model="OPENCV", width=IMAGE_SIZE[0], height=IMAGE_SIZE[1], params=CAMERAS[match[1]])


def read_query_poses(folder: Path) -> dict[str, pycolmap.Rigid3d]:
    """cam_from_world of the queries in camera-poses/*.txt, by query name (query/<file name>); none without the folder.

    A line is `name qw qx qy qz cx cy cz`: the quaternion rotates world to camera, C is the camera centre (t = -R C).
    """
    poses = {}
    for path in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
        # the columns of a results file, read as one; only the last three are C, not t
        for name, parsed in read_poses(path).items():
            rotation = parsed.rotation
            poses[f"query/{name}"] = pycolmap.Rigid3d(rotation, -(rotation.matrix() @ parsed.translation))
    return poses
