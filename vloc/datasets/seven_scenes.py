"""Microsoft 7-Scenes: one scene, in its published layout or as vloc's redkitchen subset.

Published (one scene folder as downloaded, its seq-XX.zip unzipped): seq-XX/frame-XXXXXX.color.png, .depth.png and
.pose.txt, and TrainSplit.txt / TestSplit.txt listing sequences ('sequence1' per line). The train sequences map, the
test sequences are the queries. vloc's subset (../shared/data/7scenes_redkitchen_subset): frames/ and splits/, with an
easy and a hard split.

Ground truth: pose.txt is camera-to-world (the dataset's KinectFusion poses). The SfM pseudo ground truth of Brachmann
et al. 2021 (github.com/tsattler/visloc_pseudo_gt_limitations, pgt/sfm/7scenes/<scene>_train.txt and _test.txt)
replaces it when given: 'rgb_file qw qx qy qz tx ty tz f' per line, cam_from_world as COLMAP's, f the colour camera's
focal length as COLMAP re-estimated it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap

from vloc.datasets.base import Prepared, require
from vloc.errors import ConfigError, FormatError, InputError
from vloc.geometry.rigid3d import cam_from_world_of, rigid_from_qvec_wxyz
from vloc.io.images import header_size
from vloc.io.text import read_image_list, read_utf8

SPLITS = {"easy": ("mapping.txt", "query.txt"), "hard": ("mapping_first_half.txt", "query_second_half_revisits.txt")}
SPLIT_FILES = ("TrainSplit.txt", "TestSplit.txt")  # a published scene's train (mapping) and test (query) sequences
# The colour camera (the 585 in camera-intrinsics.depth-camera.txt is the depth camera's); the principal point is the
# image centre, as in the pseudo ground truth's evaluation.
WIDTH, HEIGHT, FOCAL = 640, 480, 525.0


@dataclass
class SevenScenes:
    root: Path  # a published scene (seq-XX/, TrainSplit.txt, TestSplit.txt) or vloc's subset (frames/, splits/)
    split: str = "easy"  # the subset's; a published scene has one split, its TrainSplit.txt / TestSplit.txt
    pgt: tuple[Path, ...] = ()  # a published scene's pseudo ground truth files (train and test), replacing pose.txt
    thresholds: tuple[tuple[float, float], ...] = ((0.02, 2.0), (0.05, 5.0), (0.10, 10.0))

    def load(self) -> Prepared:
        if any((self.root / name).exists() for name in SPLIT_FILES):
            return self.load_published()
        if (self.root / "frames").is_dir():
            return self.load_subset()
        raise InputError(
            f"{self.root}: neither a 7-Scenes scene (seq-XX/, {' and '.join(SPLIT_FILES)}) nor vloc's 7-Scenes subset "
            "(frames/, splits/)"
        )

    def load_subset(self) -> Prepared:
        """vloc's subset: one sequence's frames in frames/, image lists in splits/."""
        if self.split not in SPLITS:
            raise ConfigError(f"7scenes split must be one of {', '.join(SPLITS)}, not '{self.split}'")
        if self.pgt:
            raise ConfigError(f"{self.root}: pseudo ground truth is for a published 7-Scenes scene, not vloc's subset")
        frames = require(self.root / "frames", "7-Scenes frames folder")
        mapping, queries = (read_image_list(self.root / "splits" / f) for f in SPLITS[self.split])
        poses = {name: _read_pose(frames / name.replace(".color.jpg", ".pose.txt")) for name in mapping + queries}
        return Prepared(
            name=f"7scenes-{self.root.name}-{self.split}",
            image_root=frames,
            mapping=mapping,
            queries=queries,
            cameras=dict.fromkeys(mapping + queries, colour_camera(FOCAL)),
            poses=poses,
            thresholds=list(self.thresholds),
        )

    def load_published(self) -> Prepared:
        """A published scene: the frames of the train sequences map, those of the test sequences are queries."""
        if self.split != "easy":  # the default, which a published scene ignores
            raise ConfigError(f"{self.root}: a published 7-Scenes scene has one split ({', '.join(SPLIT_FILES)})")
        train, test = (read_sequences(require(self.root / name, "7-Scenes split file")) for name in SPLIT_FILES)
        if set(train) & set(test):
            raise FormatError(f"{self.root / SPLIT_FILES[1]}: {sorted(set(train) & set(test))[0]} is a train sequence")
        mapping, queries = sequence_frames(self.root, train), sequence_frames(self.root, test)
        check_frame_size(self.root / mapping[0])
        scene = self.root.resolve().name
        if self.pgt:
            poses, focals = read_pseudo_ground_truth(self.pgt, set(mapping + queries))
            mapping = with_poses(mapping, poses, "train", self.pgt)
            queries = with_poses(queries, poses, "test", self.pgt)
            cameras = {name: colour_camera(focals.get(name, FOCAL)) for name in mapping + queries}
            truth = f"pseudo ground truth {', '.join(map(str, self.pgt))}"
        else:
            poses = {name: _read_pose(self.root / pose_file(name)) for name in mapping + queries}
            cameras = dict.fromkeys(mapping + queries, colour_camera(FOCAL))
            truth = "ground truth seq-XX/frame-XXXXXX.pose.txt"
        return Prepared(
            name=f"7scenes-{scene} ({truth})",
            image_root=self.root,
            mapping=mapping,
            queries=queries,
            cameras=cameras,
            poses=poses,
            thresholds=list(self.thresholds),
        )


def colour_camera(focal: float) -> pycolmap.Camera:
    """The colour camera of 7-Scenes with focal length `focal` (pixels)."""
    return pycolmap.Camera(model="SIMPLE_PINHOLE", width=WIDTH, height=HEIGHT, params=[focal, WIDTH / 2, HEIGHT / 2])


def read_sequences(path: Path) -> list[str]:
    """The sequence folders of TrainSplit.txt or TestSplit.txt: 'sequence1' per line is seq-01."""
    sequences = []
    for number, line in enumerate(read_utf8(path).splitlines(), 1):
        if not line.strip():
            continue
        match = re.fullmatch(r"sequence(\d+)", line.strip(), re.IGNORECASE)
        if match is None:
            raise FormatError(f"{path}:{number}: expected 'sequenceN' (N a sequence number), not {line.strip()!r}")
        sequences.append(f"seq-{int(match[1]):02d}")
    if not sequences:
        raise FormatError(f"{path}: lists no sequence")
    return sequences


def sequence_frames(root: Path, sequences: list[str]) -> list[str]:
    """Names (seq-XX/frame-XXXXXX.color.png, relative to `root`) of the colour frames of `sequences`, in order."""
    names = []
    for sequence in sequences:
        folder = root / sequence
        if not folder.is_dir():
            unzip = f" (unzip {sequence}.zip there)" if (root / f"{sequence}.zip").is_file() else ""
            raise InputError(f"{folder}: sequence folder not found{unzip}")
        frames = sorted(path.name for path in folder.glob("frame-*.color.png"))
        if not frames:
            raise InputError(f"{folder}: no frame-XXXXXX.color.png colour frames")
        names += [f"{sequence}/{frame}" for frame in frames]
    return names


def pose_file(frame: str) -> str:
    """The pose file of a colour frame: seq-XX/frame-XXXXXX.pose.txt beside seq-XX/frame-XXXXXX.color.png."""
    return frame.replace(".color.png", ".pose.txt")


def check_frame_size(path: Path) -> None:
    """FormatError unless `path` is a 640x480 image, the size the colour camera's intrinsics are for."""
    size = header_size(path)
    if size != (WIDTH, HEIGHT):
        found = "not a readable image" if size is None else f"{size[0]}x{size[1]} pixels"
        raise FormatError(f"{path}: {found}, expected 7-Scenes' {WIDTH}x{HEIGHT} colour frames")


def read_pseudo_ground_truth(
    paths: tuple[Path, ...], frames: set[str]
) -> tuple[dict[str, pycolmap.Rigid3d], dict[str, float]]:
    """Poses (cam_from_world) and focal lengths (where a line has one) by frame name, from 'rgb_file qw qx qy qz tx ty
    tz [f]' lines; every name must be one of `frames`, once."""
    poses, focals, lines_by_name = {}, {}, {}
    for path in paths:
        for number, line in enumerate(read_utf8(path).splitlines(), 1):
            tokens = line.split()
            if not tokens or tokens[0].startswith("#"):
                continue
            if len(tokens) not in (8, 9):
                raise FormatError(f"{path}:{number}: expected 'rgb_file qw qx qy qz tx ty tz f'")
            name = tokens[0]
            if name not in frames:
                raise FormatError(f"{path}:{number}: {name} is not a frame of the scene's train or test sequences")
            if name in lines_by_name:
                raise FormatError(f"{path}:{number}: {name} is posed twice (first at {lines_by_name[name]})")
            lines_by_name[name] = f"{path}:{number}"
            poses[name], focal = _pseudo_ground_truth_pose(tokens[1:], path, number)
            if focal is not None:
                focals[name] = focal
    return poses, focals


def with_poses(names: list[str], poses: dict[str, pycolmap.Rigid3d], what: str, pgt: tuple[Path, ...]) -> list[str]:
    """The frames of `names` that the pseudo ground truth poses: the others cannot be mapped nor evaluated."""
    kept = [name for name in names if name in poses]
    files = ", ".join(map(str, pgt))
    if not kept:
        raise FormatError(f"{files}: no pose of a {what} frame (give the scene's {what} file too)")
    if len(kept) < len(names):
        first = next(name for name in names if name not in poses)
        left_out = f"{len(names) - len(kept)} of the {len(names)} {what} frames"
        logging.warning("%s: %s have no pose (first: %s): left out", files, left_out, first)
    return kept


def _pseudo_ground_truth_pose(tokens: list[str], path: Path, number: int) -> tuple[pycolmap.Rigid3d, float | None]:
    """The pose and focal length (None if absent) of the numbers of a pseudo ground truth line."""
    try:
        values = np.array(tokens, np.float64)
    except ValueError:
        raise FormatError(f"{path}:{number}: pose values are not numbers") from None
    if not (np.isfinite(values).all() and np.linalg.norm(values[:4]) > 0):
        raise FormatError(f"{path}:{number}: the pose is not finite or its quaternion is zero")
    if len(values) == 8 and values[7] <= 0:
        raise FormatError(f"{path}:{number}: the focal length {values[7]:g} is not positive")
    return rigid_from_qvec_wxyz(values[:4], values[4:7]), (float(values[7]) if len(values) == 8 else None)


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
