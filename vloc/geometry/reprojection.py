"""Reprojection of 2D-3D matches under a pycolmap pose: pixel errors, and the camera centre's covariance from their
Jacobian."""

from __future__ import annotations

import numpy as np
import pycolmap
import torch

from vloc.geometry.camera import Camera
from vloc.geometry.pose import Pose


def camera_center_covariance(
    cam_from_world: pycolmap.Rigid3d, camera: pycolmap.Camera, points2D: np.ndarray, points3D: np.ndarray
) -> np.ndarray:
    """First-order covariance (3, 3) of the camera centre in world coordinates given 2D-3D inliers (COLMAP pixels):
    sigma^2 (J^T J)^-1 over the 6 pose parameters, sigma^2 the inliers' residual variance.
    inf where J^T J is singular."""
    points_cam = Pose.from_pycolmap(cam_from_world).transform(torch.from_numpy(np.asarray(points3D, np.float64)))
    projector = Camera.from_pycolmap(camera)
    pixels, _ = projector.project(points_cam)
    jacobian = (projector.J_project(points_cam) @ Pose.J_transform(points_cam)).reshape(-1, 6).numpy()
    residuals = (pixels.numpy() - points2D).ravel()
    if len(residuals) <= 6:
        return np.full((3, 3), np.inf)
    variance = residuals @ residuals / (len(residuals) - 6)
    information = jacobian.T @ jacobian
    if np.linalg.cond(information) > 1e12:
        return np.full((3, 3), np.inf)
    # Under a left update exp(omega, v) T, the centre moves by -R^T v: its covariance is R^T cov(v) R.
    rotation = cam_from_world.rotation.matrix()
    return rotation.T @ (variance * np.linalg.inv(information))[3:, 3:] @ rotation


def reprojection_errors(
    cam_from_world: pycolmap.Rigid3d, camera: pycolmap.Camera, points2D: np.ndarray, points3D: np.ndarray
) -> np.ndarray:
    """Pixel distance between each 2D point (COLMAP pixels) and its 3D point projected by the pose; inf where the point
    does not project into the image (behind the camera, outside the frame, or where the distortion folds back)."""
    points_cam = Pose.from_pycolmap(cam_from_world).transform(torch.from_numpy(np.asarray(points3D, np.float64)))
    pixels, valid = Camera.from_pycolmap(camera).project(points_cam)
    errors = np.linalg.norm(pixels.numpy() - np.asarray(points2D, np.float64), axis=1)
    return np.where(valid.numpy(), errors, np.inf)
