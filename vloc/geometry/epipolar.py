"""Epipolar geometry from known poses, used to verify matches and to check them against ground truth."""

from __future__ import annotations

import numpy as np
import pycolmap

from vloc.geometry.rigid3d import relative_pose


def skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])


def essential_from_poses(cam0_from_world: pycolmap.Rigid3d, cam1_from_world: pycolmap.Rigid3d) -> np.ndarray:
    """E with x1^T E x0 = 0 for normalised image coordinates."""
    cam1_from_cam0 = relative_pose(cam0_from_world, cam1_from_world)
    return skew(cam1_from_cam0.translation) @ cam1_from_cam0.rotation.matrix()


def fundamental_from_poses(
    cam0_from_world: pycolmap.Rigid3d,
    camera0: pycolmap.Camera,
    cam1_from_world: pycolmap.Rigid3d,
    camera1: pycolmap.Camera,
) -> np.ndarray:
    """F with p1^T F p0 = 0 for pixel coordinates of pinhole cameras (any pixel origin, as long as K matches)."""
    essential = essential_from_poses(cam0_from_world, cam1_from_world)
    k0, k1 = camera0.calibration_matrix(), camera1.calibration_matrix()
    return np.linalg.inv(k1).T @ essential @ np.linalg.inv(k0)


def epipolar_distances_each(
    points0: np.ndarray, points1: np.ndarray, matrix: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each point to the epipolar line of its match, in image 0 and in image 1.

    With F and pixel coordinates the distances are in pixels; with E and normalised coordinates, in those units.
    """
    h0 = np.concatenate([points0, np.ones((len(points0), 1))], 1)
    h1 = np.concatenate([points1, np.ones((len(points1), 1))], 1)
    lines1 = h0 @ matrix.T  # lines in image 1
    lines0 = h1 @ matrix  # lines in image 0
    algebraic = np.abs(np.sum(h1 * lines1, 1))
    distance0 = algebraic / np.maximum(np.linalg.norm(lines0[:, :2], axis=1), 1e-12)
    distance1 = algebraic / np.maximum(np.linalg.norm(lines1[:, :2], axis=1), 1e-12)
    return distance0, distance1


def epipolar_distances(points0: np.ndarray, points1: np.ndarray, fundamental: np.ndarray) -> np.ndarray:
    """Symmetric point-to-epipolar-line distance in pixels, the larger of the two images' for each match."""
    return np.maximum(*epipolar_distances_each(points0, points1, fundamental))
