"""Fake Microsoft 7-Scenes scenes in the published layout, made of the `benchmark_scene` fixture's day frames.

The renders are 480x360 with focal 375 and the principal point at the centre; 7-Scenes' colour frames are 640x480
with focal 525. Scaling a render by 525 / 375 = 1.4 (to 672x504) and cropping 16 columns and 12 rows from each side
gives exactly that camera (the principal point goes from (240, 180) to (336, 252), then to (320, 240)), so the adapter
reads the fake with the real dataset's intrinsics and size. The street's world is scaled by WORLD_SCALE to the size of a
7-Scenes room (surfaces 0.5 to 1.5 m from the camera rather than 5 to 15 m): a uniform scale leaves the images as they
are and makes the standard threshold, 5 cm, mean on the fake what it means on the dataset.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pycolmap

SEQUENCES = {n + 1: list(range(n, 12, 3)) for n in range(3)}  # seq-0N: every third benchmark frame, from N - 1
SPLITS = {"chess": [1, 3], "fire": [1, 2]}  # each fake scene's train sequences; the third is its test sequence
# The pseudo ground truth's world: rotated 30 deg about z and shifted from pose.txt's, as an SfM model's would be.
PGT_FROM_WORLD = pycolmap.Rigid3d(
    pycolmap.Rotation3d(np.array([0, 0, np.sin(np.pi / 12), np.cos(np.pi / 12)])), [1, -2, 0.5]
)
SCALE = 525.0 / 375.0
CROP = (12, 16)  # rows, columns removed from each side of the 504x672 scaled render
WORLD_SCALE = 0.1
INVALID_DEPTH = 65535  # 7-Scenes' depth of a pixel without a measurement (millimetres)


def to_seven_scenes_camera(render: np.ndarray, interpolation: int) -> np.ndarray:
    """A 480x360 render (focal 375) as the 640x480 frame of 7-Scenes' colour camera (focal 525)."""
    height, width = render.shape[:2]
    scaled = cv2.resize(render, (round(width * SCALE), round(height * SCALE)), interpolation=interpolation)
    return scaled[CROP[0] : CROP[0] + 480, CROP[1] : CROP[1] + 640]


def seven_scenes_pixel(render_xy: np.ndarray) -> np.ndarray:
    """Where a render's image point (COLMAP's convention, pixel centres at +0.5) lies in the 7-Scenes frame."""
    return render_xy * SCALE - np.array([CROP[1], CROP[0]])


def benchmark_truth(scene: Path) -> dict[int, pycolmap.Rigid3d]:
    """cam_from_world of each day frame of the benchmark scene, by frame number, in the world scaled to a room."""
    model = pycolmap.Reconstruction(scene / "model")
    day = [image for image in model.images.values() if image.name.startswith("day/")]
    return {int(image.name[-7:-4]): scaled(image.cam_from_world()) for image in day}


def scaled(cam_from_world: pycolmap.Rigid3d) -> pycolmap.Rigid3d:
    """A pose in the world scaled by WORLD_SCALE."""
    return pycolmap.Rigid3d(cam_from_world.rotation, cam_from_world.translation * WORLD_SCALE)


def write_scene(scene: Path, out: Path, sequences: dict[int, list[int]], train: list[int]) -> dict[str, int]:
    """Write `out` as a published 7-Scenes scene whose sequence N (seq-0N/) holds the benchmark frames
    `sequences[N]`, numbered from frame-000000, with colour (PNG), depth (PNG, millimetres) and pose.txt
    (camera-to-world); TrainSplit.txt lists `train`, TestSplit.txt the other sequences. Returns the benchmark frame
    number of each written frame, by name."""
    truth = benchmark_truth(scene)
    frames = {}
    for sequence, numbers in sequences.items():
        folder = out / f"seq-{sequence:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for index, number in enumerate(numbers):
            stem = folder / f"frame-{index:06d}"
            colour = cv2.imread(str(scene / "images" / "day" / f"frame_{number:03d}.png"))
            cv2.imwrite(f"{stem}.color.png", to_seven_scenes_camera(colour, cv2.INTER_LINEAR))
            depth = np.load(scene / "geometry" / f"frame_{number:03d}.npz")["depth"] * WORLD_SCALE  # z, 0 for sky
            millimetres = np.where(depth > 0, np.round(depth * 1000), INVALID_DEPTH).clip(0, INVALID_DEPTH)
            cv2.imwrite(f"{stem}.depth.png", to_seven_scenes_camera(millimetres.astype(np.uint16), cv2.INTER_NEAREST))
            write_pose_txt(Path(f"{stem}.pose.txt"), truth[number])
            frames[f"seq-{sequence:02d}/frame-{index:06d}.color.png"] = number
    test = [sequence for sequence in sequences if sequence not in train]
    (out / "TrainSplit.txt").write_text("".join(f"sequence{n}\n" for n in train))
    (out / "TestSplit.txt").write_text("".join(f"sequence{n}\n" for n in test))
    return frames


def write_pose_txt(path: Path, cam_from_world: pycolmap.Rigid3d) -> None:
    """7-Scenes' pose file: the camera-to-world 4x4 matrix, tab-separated, in exponent notation."""
    world_from_cam = np.vstack([cam_from_world.inverse().matrix(), [0, 0, 0, 1]])
    np.savetxt(path, world_from_cam, fmt="%.7e", delimiter="\t")


def write_pseudo_ground_truth(path: Path, poses: dict[str, pycolmap.Rigid3d], focal: float | None) -> None:
    """Brachmann et al.'s pose file: 'rgb_file qw qx qy qz tx ty tz f' per frame (cam_from_world; f omitted if None)."""
    lines = []
    for name, pose in poses.items():
        qx, qy, qz, qw = pose.rotation.quat
        values = [qw, qx, qy, qz, *pose.translation] + ([] if focal is None else [focal])
        lines.append(" ".join([name, *(f"{v:.9g}" for v in values)]) + "\n")
    path.write_text("".join(lines))


def benchmark_frame(name: str) -> int:
    """The benchmark frame that the fake frame `name` (seq-0N/frame-00000I.color.png) was made of."""
    return SEQUENCES[int(name[4:6])][int(name[13:19])]


def write_fake_dataset(scene: Path, folder: Path) -> None:
    """folder/7scenes: the scenes of SPLITS, each of every benchmark day frame in SEQUENCES; folder/pgt: their pseudo
    ground truth (<scene>_train.txt, <scene>_test.txt, focal 525) in the world PGT_FROM_WORLD."""
    truth = benchmark_truth(scene)
    (folder / "pgt").mkdir(parents=True)
    for name, train in SPLITS.items():
        frames = write_scene(scene, folder / "7scenes" / name, SEQUENCES, train)
        for split, chosen in (("train", True), ("test", False)):
            poses = {
                f: truth[n] * PGT_FROM_WORLD.inverse() for f, n in frames.items() if (int(f[4:6]) in train) == chosen
            }
            write_pseudo_ground_truth(folder / "pgt" / f"{name}_{split}.txt", poses, 525.0)


def read_pgt(path: Path) -> dict[str, pycolmap.Rigid3d]:
    """The poses (cam_from_world) of a pseudo ground truth file, its focal lengths dropped."""
    poses = {}
    for line in path.read_text().splitlines():
        name, qw, qx, qy, qz, tx, ty, tz = line.split()[:8]
        rotation = pycolmap.Rotation3d(np.array([qx, qy, qz, qw], np.float64))
        poses[name] = pycolmap.Rigid3d(rotation, np.array([tx, ty, tz], np.float64))
    return poses
