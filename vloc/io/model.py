"""COLMAP models through pycolmap: reading with clear errors, and building posed models without points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pycolmap

from vloc.errors import FormatError, InputError
from vloc.io.atomic import atomic_path
from vloc.io.text import read_poses

MODEL_FILES = frozenset(  # what pycolmap 4 writes (rigs and frames are new in it)
    f"{name}{ext}" for name in ("cameras", "images", "points3D", "rigs", "frames") for ext in (".bin", ".txt")
)


def read_model(path: Path, need_points: bool = False) -> pycolmap.Reconstruction:
    """Read a COLMAP model folder (binary or text); optionally require 3D points."""
    if not path.is_dir():
        raise InputError(f"{path}: model folder not found")
    if not any((path / f"images{ext}").exists() for ext in (".bin", ".txt")):
        raise FormatError(f"{path}: not a COLMAP model (no images.bin or images.txt)")
    try:
        model = pycolmap.Reconstruction(path)
    except Exception as error:  # pycolmap raises several types for corrupt files
        raise FormatError(f"{path}: unreadable COLMAP model ({error})") from None
    if model.num_reg_images() == 0:
        raise FormatError(f"{path}: model has no registered images")
    if need_points and model.num_points3D() == 0:
        raise FormatError(f"{path}: model has no 3D points")
    return model


def check_model_output(path: Path) -> None:
    """Refuse an output path that holds anything but a COLMAP model: only a new path, an empty folder or a model
    folder (model files alone) may be replaced by a model."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() and not path.is_symlink() and all(p.name in MODEL_FILES and p.is_file() for p in path.iterdir()):
        return
    raise InputError(f"{path}: exists and is not a COLMAP model folder; choose a new folder")


def write_model(model: pycolmap.Reconstruction, path: Path) -> None:
    """Write a model in binary format into a staging folder, then swap it in place of `path` (a model folder, or
    nothing: see `check_model_output`), so `path` never holds half a model."""
    with atomic_path(path) as staging:
        check_model_output(path)  # again, now that the output is locked
        staging.mkdir()
        model.write_binary(staging)


def build_posed_model(
    cameras: dict[str, pycolmap.Camera], poses: dict[str, pycolmap.Rigid3d]
) -> pycolmap.Reconstruction:
    """A model of posed images and no points; images with equal intrinsics share one camera. Ids follow sorted names."""
    model = pycolmap.Reconstruction()
    camera_ids: dict[tuple, int] = {}
    for image_id, name in enumerate(sorted(poses), 1):
        camera = cameras[name]
        key = (camera.model_name, camera.width, camera.height, tuple(camera.params))
        if key not in camera_ids:
            camera_ids[key] = len(camera_ids) + 1
            model.add_camera_with_trivial_rig(
                pycolmap.Camera(
                    model=camera.model_name,
                    width=camera.width,
                    height=camera.height,
                    params=camera.params,
                    camera_id=camera_ids[key],
                )
            )
        image = pycolmap.Image(name=name, camera_id=camera_ids[key], image_id=image_id)
        model.add_image_with_trivial_frame(image, poses[name])
    return model


def model_poses(model: pycolmap.Reconstruction) -> dict[str, pycolmap.Rigid3d]:
    """cam_from_world of every registered image, by name."""
    return {image.name: image.cam_from_world() for image in model.images.values() if image.has_pose}


def model_cameras(model: pycolmap.Reconstruction) -> dict[str, pycolmap.Camera]:
    """Camera of every image, by name."""
    return {image.name: model.cameras[image.camera_id] for image in model.images.values()}


def points2d_are_keypoints(image: pycolmap.Image, keypoints: np.ndarray) -> bool:
    """Whether an image's points2D are `keypoints` (hloc's convention, pixel centres at integers) + 0.5, index for
    index: the keypoints its 3D points' observations index."""
    points = np.array([point.xy for point in image.points2D], np.float64).reshape(-1, 2)
    return len(points) == len(keypoints) and bool(np.allclose(points, keypoints + 0.5, atol=1e-2))


def read_ground_truth(path: Path) -> dict[str, pycolmap.Rigid3d]:
    """cam_from_world by name from a poses file (results format) or a COLMAP model folder."""
    if path.is_dir():
        return model_poses(read_model(path))
    if not path.exists():
        raise InputError(f"{path}: ground truth not found")
    return read_poses(path)
