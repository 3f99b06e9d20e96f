"""What the 3D view draws, as arrays: a subsample of the map's points, camera frustums as polylines, the scene's size
and a viewpoint."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pycolmap

from vloc.geometry.rigid3d import camera_center

FRUSTUM_DEPTH = 0.03  # of the scene extent
# Image corners 1-4, back to 1, then the centre C to each corner: 1 2 3 4 1 C 2 C 3 C 4 (C-2 is drawn twice).
FRUSTUM_PATH = [1, 2, 3, 4, 1, 0, 2, 0, 3, 0, 4]


def sampled_points(model: pycolmap.Reconstruction, max_points: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """xyz (N, 3) and RGB (N, 3) uint8 of at most `max_points` 3D points: a fixed random subset, in point-id order."""
    ids = np.array(sorted(model.points3D), np.int64)
    if len(ids) > max_points:
        ids = np.sort(np.random.default_rng(seed).choice(ids, max_points, replace=False))
    xyz = np.array([model.points3D[i].xyz for i in ids], np.float64).reshape(-1, 3)
    rgb = np.array([model.points3D[i].color for i in ids], np.uint8).reshape(-1, 3)
    return xyz, rgb


def scene_extent(points: np.ndarray, centres: np.ndarray) -> float:
    """Diagonal of the box holding 96% of the points and camera centres along each axis (1 if that box is empty)."""
    everything = np.concatenate([points.reshape(-1, 3), centres.reshape(-1, 3)])
    low, high = np.percentile(everything, [2, 98], axis=0)
    extent = float(np.linalg.norm(high - low))
    return extent if extent > 0 else 1.0


def frustum_polyline(camera: pycolmap.Camera, cam_from_world: pycolmap.Rigid3d, depth: float) -> np.ndarray:
    """(12, 3) world points: a pyramid from the camera centre to its image corners at `depth` along the optical axis,
    as one polyline, then a NaN row that separates it from the next one."""
    corners = np.array([[0, 0], [camera.width, 0], [camera.width, camera.height], [0, camera.height]], np.float64)
    rays = np.hstack([camera.cam_from_img(corners), np.ones((4, 1))])
    vertices_cam = np.vstack([np.zeros((1, 3)), depth * rays])
    vertices_world = cam_from_world.inverse() * vertices_cam
    return np.vstack([vertices_world[FRUSTUM_PATH], np.full((1, 3), np.nan)])


def frustum_polylines(cameras: list[pycolmap.Camera], poses: list[pycolmap.Rigid3d], depth: float) -> np.ndarray:
    """The frustums of several cameras, one after the other, (12 * N, 3)."""
    lines = [frustum_polyline(camera, pose, depth) for camera, pose in zip(cameras, poses)]
    return np.concatenate(lines) if lines else np.zeros((0, 3))


def common_camera(model: pycolmap.Reconstruction) -> pycolmap.Camera:
    """The camera most registered images use: the shape given to query frustums, whose intrinsics are not known
    here."""
    camera_id, _ = Counter(image.camera_id for image in model.images.values() if image.has_pose).most_common(1)[0]
    return model.cameras[camera_id]


def viewpoint(poses: list[pycolmap.Rigid3d]) -> tuple[np.ndarray, np.ndarray]:
    """Up direction (opposite the cameras' mean image y axis) and a unit direction to look from: behind the cameras'
    mean viewing direction and raised, or from the side when they look all around (a ring)."""
    rotations = [pose.rotation.matrix() for pose in poses]
    up = -np.mean([rotation[1] for rotation in rotations], axis=0)  # row 1 of cam_from_world: image y in the world
    up = up / np.linalg.norm(up) if np.linalg.norm(up) > 1e-6 else np.array([0.0, 0.0, 1.0])
    forward = np.mean([rotation[2] for rotation in rotations], axis=0)
    forward -= up * (forward @ up)
    if np.linalg.norm(forward) < 0.3:  # no dominant viewing direction: any horizontal one
        forward = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    eye = -forward / np.linalg.norm(forward) + 0.6 * up
    return up, eye / np.linalg.norm(eye)


def camera_centres(poses: list[pycolmap.Rigid3d]) -> np.ndarray:
    """(N, 3) camera centres in the world."""
    return np.array([camera_center(pose) for pose in poses], np.float64).reshape(-1, 3)
