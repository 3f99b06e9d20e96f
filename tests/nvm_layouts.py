"""Fake copies of the datasets that ship an NVM reference model (RobotCar Seasons v2, Cambridge Landmarks), written in
their published formats from the rendered `benchmark_scene` (tests/conftest.py): its poses are the truth."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pycolmap

from vloc.geometry.rigid3d import camera_center, qvec_wxyz
from vloc.io.model import model_poses, read_model

CAMERA = (375.0, 240.0, 180.0, 480, 360)  # the scene's f, cx, cy, width, height


def look_at(centre: np.ndarray, target: np.ndarray) -> pycolmap.Rigid3d:
    """cam_from_world of a camera at `centre` looking at `target` (image y down, world z up)."""
    forward = (target - centre) / np.linalg.norm(target - centre)
    right = np.cross(forward, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # rows: the camera axes in the world
    return pycolmap.Rigid3d(pycolmap.Rotation3d(rotation), -rotation @ centre)


def nvm_camera_line(name: str, focal: float, cam_from_world: pycolmap.Rigid3d, radial: float = 0.0) -> str:
    """`name focal qw qx qy qz cx cy cz radial 0`: cam_from_world's rotation and the camera centre."""
    values = [focal, *qvec_wxyz(cam_from_world), *camera_center(cam_from_world), radial]
    return f"{name} {' '.join(f'{v:.12g}' for v in values)} 0"


def nvm_text(cameras: list[str], points: list[str]) -> str:
    """An NVM file as VisualSFM writes it: header, cameras, points, then the empty model and PLY section it appends."""
    return "\n".join(["NVM_V3 ", "", str(len(cameras)), *cameras, "", str(len(points)), *points, "", "0", "", "0", ""])


def scene_points(scene: Path, names: list[str], num_per_image: int = 8, seed: int = 0) -> list[str]:
    """NVM point lines: scene points sampled in each image, measured (pixels from the image centre) in every listed
    image that sees them (the rendered depth agrees)."""
    model = read_model(scene / "model")
    poses = model_poses(model)
    focal, cx, cy, width, height = CAMERA
    depths = {name: np.load(scene / "geometry" / f"{Path(name).stem}.npz")["depth"] for name in names}
    rng = np.random.default_rng(seed)
    lines = []
    for name in names:
        coordinates = np.load(scene / "geometry" / f"{Path(name).stem}.npz")["scene_coordinates"]
        rows, columns = np.nonzero(np.isfinite(coordinates[..., 0]))
        for k in rng.choice(len(rows), num_per_image, replace=False):
            xyz = coordinates[rows[k], columns[k]]
            measurements = []
            for index, other in enumerate(names):
                point = poses[other] * xyz[None]
                x, y = focal * point[0, :2] / point[0, 2] + [cx, cy]
                inside = point[0, 2] > 0 and 0 <= x < width and 0 <= y < height
                if inside and abs(depths[other][int(y), int(x)] - point[0, 2]) < 0.02 * point[0, 2]:
                    measurements.append(f"{index} {len(lines)} {x - width / 2:.4f} {y - height / 2:.4f}")
            lines.append(
                f"{' '.join(f'{v:.6f}' for v in xyz)} 128 128 128 {len(measurements)} {' '.join(measurements)}"
            )
    return lines


def truth(scene: Path) -> dict[str, pycolmap.Rigid3d]:
    """The rendered cam_from_world of every scene image (day/frame_XXX.png, night/frame_XXX.png)."""
    return model_poses(read_model(scene / "model"))


def copy_image(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(target), cv2.imread(str(source)))  # .jpg targets are JPEG-encoded (quality 95)


QUERY_FRAMES = (1, 4, 7, 9)  # each has mapping frames looking its way on both sides
MAPPING_FRAMES = tuple(k for k in range(12) if k not in QUERY_FRAMES)


# ---------------------------------------------------------------- RobotCar Seasons v2
QUERY_CONDITIONS = {"day": ("dawn", "sun"), "night": ("night", "night-rain")}  # frames 1, 4 and 7, 9


def timestamp(frame: int, condition: str) -> str:
    """A RobotCar-like microsecond timestamp, distinct per condition and frame."""
    offset = ("overcast-reference", "dawn", "sun", "night", "night-rain").index(condition)
    return str(1417176458000000 + offset * 10_000_000_000 + frame * 250_000)


def robotcar_layout(scene: Path, root: Path) -> dict[str, dict[str, pycolmap.Rigid3d]]:
    """RobotCar Seasons v2 as published, from the scene. The overcast-reference images of each mapping frame are its
    day render as the rear camera and its night render as the left or right camera (the real left and right cameras
    look sideways; here they share the rear's pose: triangulation keeps tracks seen three times or more, which the day
    frames alone, metres apart and turned left and right, hardly give). The query frames' day renders are dawn / sun
    queries and their night renders night / night-rain queries of the rear camera, with left-camera copies the v2
    test list leaves out. Every camera has the scene's intrinsics. Returns the truth of 'mapping' and 'queries' by the
    names vloc gives them (images/-relative .jpg)."""
    poses = truth(scene)
    focal, cx, cy, _, _ = CAMERA
    (root / "intrinsics").mkdir(parents=True)
    for side in ("left", "rear", "right"):
        (root / "intrinsics" / f"{side}_intrinsics.txt").write_text(
            f"fx {focal:.6f}\nfy {focal:.6f}\ncx {cx:.6f}\ncy {cy:.6f}\n"
        )
    mapping, cameras, sources = {}, [], []
    for i, frame in enumerate(MAPPING_FRAMES):
        for light, side in (("day", "rear"), ("night", ("left", "right")[i % 2])):
            render = f"{light}/frame_{frame:03d}.png"
            name = f"overcast-reference/{side}/{timestamp(frame, 'overcast-reference')}"
            copy_image(scene / "images" / render, root / "images" / f"{name}.jpg")
            mapping[f"{name}.jpg"] = poses[render]
            cameras.append(nvm_camera_line(f"./{name}.png", focal, poses[render]))
            sources.append(render)
    (root / "3D-models" / "all-merged").mkdir(parents=True)
    (root / "3D-models" / "all-merged" / "all.nvm").write_text(nvm_text(cameras, scene_points(scene, sources)))
    queries, test_list = {}, []
    for light, conditions in QUERY_CONDITIONS.items():
        for i, frame in enumerate(QUERY_FRAMES):
            condition = conditions[i // 2]
            stamp = timestamp(frame, condition)
            source = scene / "images" / f"{light}/frame_{frame:03d}.png"
            copy_image(source, root / "images" / condition / "rear" / f"{stamp}.jpg")
            copy_image(source, root / "images" / condition / "left" / f"{stamp}.jpg")
            queries[f"{condition}/rear/{stamp}.jpg"] = poses[f"{light}/frame_{frame:03d}.png"]
            test_list.append(f"rear/{stamp}.png")
    (root / "robotcar_v2_test.txt").write_text("".join(f"{name}\n" for name in test_list))
    return {"mapping": mapping, "queries": queries}


# ---------------------------------------------------------------- Cambridge Landmarks
def cambridge_pose_list(poses: dict[str, pycolmap.Rigid3d]) -> str:
    """dataset_*.txt: PoseNet's three header lines, then 'name X Y Z W P Q R' (camera centre, cam_from_world
    quaternion) with six decimals, as published."""
    lines = ["Visual Landmark Dataset V1", "ImageFile, Camera Position [X Y Z W P Q R]", ""]
    for name, pose in poses.items():
        values = [*camera_center(pose), *qvec_wxyz(pose)]
        lines.append(f"{name} {' '.join(f'{v:.6f}' for v in values)}")
    return "\n".join(lines) + "\n"


def cambridge_layout(scene: Path, folder: Path, radial: float = 0.0) -> dict[str, dict[str, pycolmap.Rigid3d]]:
    """One Cambridge Landmarks scene folder: the mapping frames' day renders are seq1, their night renders seq3
    (training: the night renders make the tracks triangulation needs, as in robotcar_layout), the query frames' day
    and night renders seq2 and seq4 (test); frameXXXXX.png numbered from 1. reconstruction.nvm poses every frame,
    named .jpg as published. Returns the truth of 'mapping' and 'queries' by name."""
    poses = truth(scene)
    split: dict[str, dict[str, pycolmap.Rigid3d]] = {"mapping": {}, "queries": {}}
    cameras, sources = [], []
    sequences = ((1, "day", MAPPING_FRAMES, "mapping"), (3, "night", MAPPING_FRAMES, "mapping"))
    sequences += ((2, "day", QUERY_FRAMES, "queries"), (4, "night", QUERY_FRAMES, "queries"))
    for sequence, light, frames, part in sorted(sequences):
        for i, frame in enumerate(frames):
            name, render = f"seq{sequence}/frame{i + 1:05d}.png", f"{light}/frame_{frame:03d}.png"
            copy_image(scene / "images" / render, folder / name)
            split[part][name] = poses[render]
            cameras.append(nvm_camera_line(name.replace(".png", ".jpg"), CAMERA[0], poses[render], radial))
            sources.append(render)
    (folder / "dataset_train.txt").write_text(cambridge_pose_list(split["mapping"]))
    (folder / "dataset_test.txt").write_text(cambridge_pose_list(split["queries"]))
    (folder / "reconstruction.nvm").write_text(nvm_text(cameras, scene_points(scene, sources)))
    return split
