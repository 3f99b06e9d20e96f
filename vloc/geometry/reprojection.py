"""Reprojection of 2D-3D matches under a pycolmap pose: pixel errors, and the camera centre's covariance from their
Jacobian. NumPy and pycolmap's camera models only, so that localization starts without importing torch."""

from __future__ import annotations

import numpy as np
import pycolmap

MIN_DEPTH = 1e-4  # in front of the camera, as vloc.geometry.camera.Camera.eps


def project(camera: pycolmap.Camera, points_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (N, 2) of camera-frame points (N, 3), and where they are valid (N,): in front of the camera, inside
    [0, w] x [0, h], and where the distortion does not fold back (the projection keeps its orientation)."""
    points_cam = np.asarray(points_cam, np.float64).reshape(-1, 3)
    in_front = points_cam[:, 2] > MIN_DEPTH
    safe = np.where(in_front[:, None], points_cam, [0.0, 0.0, 1.0])
    pixels = camera.img_from_cam(safe)
    inside = ((pixels >= 0) & (pixels <= [camera.width, camera.height])).all(1)
    unfolded = np.linalg.det(project_jacobian(camera, safe)[:, :, :2]) > 0
    return pixels, in_front & inside & unfolded


def project_jacobian(camera: pycolmap.Camera, points_cam: np.ndarray) -> np.ndarray:
    """d pixels / d points_cam (N, 2, 3) through pycolmap's camera model, by central differences (points in front)."""
    steps = 1e-6 * np.maximum(np.abs(points_cam[:, 2:]), MIN_DEPTH)
    columns = []
    for axis in range(3):
        offset = np.zeros_like(points_cam)
        offset[:, axis] = steps[:, 0]
        columns.append(
            (camera.img_from_cam(points_cam + offset) - camera.img_from_cam(points_cam - offset)) / (2 * steps)
        )
    return np.stack(columns, -1)


def transform_jacobian(points_cam: np.ndarray) -> np.ndarray:
    """d p' / d (omega, v) (N, 3, 6) at 0 for p' = exp(omega, v) T p (left update), given p' = T p."""
    x, y, z = points_cam.T
    zero, one = np.zeros_like(x), np.ones_like(x)
    minus_skew = np.stack([zero, z, -y, -z, zero, x, y, -x, zero], -1).reshape(-1, 3, 3)
    identity = np.stack([one, zero, zero, zero, one, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return np.concatenate([minus_skew, identity], -1)


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
    points_cam = cam_from_world * np.asarray(points3D, np.float64)
    pixels = camera.img_from_cam(points_cam)
    jacobian = (project_jacobian(camera, points_cam) @ transform_jacobian(points_cam)).reshape(-1, 6)
    if with_focal:  # pixels move away from the principal point in proportion to the focal length
        centre = np.array([camera.principal_point_x, camera.principal_point_y])
        jacobian = np.hstack([jacobian, ((pixels - centre) / camera.mean_focal_length()).reshape(-1, 1)])
    residuals = (pixels - points2D).ravel()
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


def center_std(pose_covariance: np.ndarray, cam_from_world: pycolmap.Rigid3d) -> float | None:
    """Standard deviation of the camera centre along its least certain direction; None where undetermined."""
    if not np.isfinite(pose_covariance).all():
        return None
    return float(np.sqrt(max(np.linalg.eigvalsh(center_covariance(pose_covariance, cam_from_world))[-1], 0.0)))


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
    pixels, valid = project(camera, cam_from_world * np.asarray(points3D, np.float64))
    errors = np.linalg.norm(pixels - np.asarray(points2D, np.float64), axis=1)
    return np.where(valid, errors, np.inf)


def pose_change(before: pycolmap.Rigid3d, after: pycolmap.Rigid3d) -> np.ndarray:
    """The left update (omega, v) (6,) that takes `before` to `after`: after = (exp(omega), v) * before."""
    change = after * before.inverse()
    x, y, z, w = change.rotation.quat
    sine = np.linalg.norm([x, y, z])
    omega = 2 * np.arctan2(sine, w) / sine * np.array([x, y, z]) if sine > 0 else np.zeros(3)
    return np.concatenate([omega, change.translation])


def pose_moved(before: pycolmap.Rigid3d, change: np.ndarray) -> pycolmap.Rigid3d:
    """`before` under the left update (omega, v) (6,), the inverse of pose_change."""
    omega, angle = np.asarray(change[:3], np.float64), float(np.linalg.norm(change[:3]))
    axis = omega / angle if angle > 0 else np.zeros(3)
    quat = np.concatenate([np.sin(angle / 2) * axis, [np.cos(angle / 2)]])  # x, y, z, w
    return pycolmap.Rigid3d(pycolmap.Rotation3d(quat), np.asarray(change[3:], np.float64)) * before


def fuse_poses(
    first: pycolmap.Rigid3d, first_covariance: np.ndarray, second: pycolmap.Rigid3d, second_covariance: np.ndarray
) -> tuple[pycolmap.Rigid3d, np.ndarray, float]:
    """Two independent estimates of a pose combined by their 6x6 covariances (left update, as `pose_covariance`): the
    information-weighted pose, its covariance, and the squared Mahalanobis distance between the two under the sum of
    their covariances (chi-square, 6 degrees of freedom). Where a covariance is not finite: `second`, inf, inf."""
    total = first_covariance + second_covariance
    if not np.isfinite(total).all():
        return second, np.full((6, 6), np.inf), float("inf")
    change = pose_change(first, second)
    try:
        gain = np.linalg.solve(total, first_covariance).T  # first_covariance @ total^-1 (both symmetric)
    except np.linalg.LinAlgError:
        return second, np.full((6, 6), np.inf), float("inf")
    chi2 = float(change @ np.linalg.solve(total, change))
    return pose_moved(first, gain @ change), first_covariance - gain @ first_covariance, chi2
