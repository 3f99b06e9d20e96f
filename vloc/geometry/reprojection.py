"""Reprojection of 2D-3D matches under a pycolmap pose: pixel errors, and the camera centre's covariance from their
Jacobian."""

from __future__ import annotations

import numpy as np
import pycolmap
import torch

from vloc.geometry.camera import Camera
from vloc.geometry.pose import Pose


def pose_covariance(
    cam_from_world: pycolmap.Rigid3d,
    camera: pycolmap.Camera,
    points2D: np.ndarray,
    points3D: np.ndarray,
    with_focal: bool = False,
) -> np.ndarray:
    """First-order covariance of the 6 pose parameters (left update exp(omega, v) T), and of the focal length after
    them with `with_focal`, given 2D-3D inliers (COLMAP pixels): sigma^2 (J^T J)^-1, sigma^2 the inliers' residual
    variance; inf where J^T J is singular."""
    points_cam = Pose.from_pycolmap(cam_from_world).transform(torch.from_numpy(np.asarray(points3D, np.float64)))
    projector = Camera.from_pycolmap(camera)
    pixels, _ = projector.project(points_cam)
    jacobian = (projector.J_project(points_cam) @ Pose.J_transform(points_cam)).reshape(-1, 6).numpy()
    if with_focal:  # pixels move away from the principal point in proportion to the focal length
        centre = np.array([camera.principal_point_x, camera.principal_point_y])
        jacobian = np.hstack([jacobian, ((pixels.numpy() - centre) / camera.mean_focal_length()).reshape(-1, 1)])
    residuals = (pixels.numpy() - points2D).ravel()
    unknowns = jacobian.shape[1]
    if len(residuals) <= unknowns:
        return np.full((unknowns, unknowns), np.inf)
    variance = residuals @ residuals / (len(residuals) - unknowns)
    # Unknowns in their own units (radians, map units, pixels of focal length): scale each column to unit norm so that
    # the conditioning test sees the geometry, not the units.
    scale = np.linalg.norm(jacobian, axis=0)
    if not (scale > 0).all():
        return np.full((unknowns, unknowns), np.inf)
    information = (jacobian / scale).T @ (jacobian / scale)
    if np.linalg.cond(information) > 1e12:
        return np.full((unknowns, unknowns), np.inf)
    return variance * np.linalg.inv(information) / np.outer(scale, scale)


def center_covariance(pose_covariance: np.ndarray, cam_from_world: pycolmap.Rigid3d) -> np.ndarray:
    """Covariance (3, 3) of the camera centre in world coordinates from that of the pose; inf where undetermined."""
    if not np.isfinite(pose_covariance).all():
        return np.full((3, 3), np.inf)
    # Under a left update exp(omega, v) T, the centre moves by -R^T v: its covariance is R^T cov(v) R.
    rotation = cam_from_world.rotation.matrix()
    return rotation.T @ pose_covariance[3:6, 3:6] @ rotation


def camera_center_covariance(
    cam_from_world: pycolmap.Rigid3d, camera: pycolmap.Camera, points2D: np.ndarray, points3D: np.ndarray
) -> np.ndarray:
    """Covariance (3, 3) of the camera centre in world coordinates, the intrinsics known (see pose_covariance)."""
    return center_covariance(pose_covariance(cam_from_world, camera, points2D, points3D), cam_from_world)


def reprojection_errors(
    cam_from_world: pycolmap.Rigid3d, camera: pycolmap.Camera, points2D: np.ndarray, points3D: np.ndarray
) -> np.ndarray:
    """Pixel distance between each 2D point (COLMAP pixels) and its 3D point projected by the pose; inf where the point
    does not project into the image (behind the camera, outside the frame, or where the distortion folds back)."""
    points_cam = Pose.from_pycolmap(cam_from_world).transform(torch.from_numpy(np.asarray(points3D, np.float64)))
    pixels, valid = Camera.from_pycolmap(camera).project(points_cam)
    errors = np.linalg.norm(pixels.numpy() - np.asarray(points2D, np.float64), axis=1)
    return np.where(valid.numpy(), errors, np.inf)
