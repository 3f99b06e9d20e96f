"""A pinhole camera's intrinsics and rotation from pixels and the directions of their rays from a known centre (DLT of
the 3x3 matrix K R, then its RQ decomposition): the view of a rendered image whose every pixel has a 3D point."""

from __future__ import annotations

import numpy as np


def _normalising_transform(points2D: np.ndarray) -> np.ndarray:
    """Hartley's 3x3 similarity taking `points2D` to zero mean and mean distance sqrt(2) from the origin."""
    mean = points2D.mean(0)
    scale = np.sqrt(2) / max(np.linalg.norm(points2D - mean, axis=1).mean(), 1e-12)
    return np.array([[scale, 0, -scale * mean[0]], [0, scale, -scale * mean[1]], [0, 0, 1]])


def rays_to_pixels_matrix(points2D: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """The 3x3 M (up to scale) with (u, v, 1) ~ M ray for every pixel (N, 2) and ray direction (N, 3), by the
    normalised direct linear transform; rays only need to span more than a line of the image."""
    normalise = _normalising_transform(points2D)
    uv = points2D @ normalise[:2, :2].T + normalise[:2, 2]
    d = rays / np.linalg.norm(rays, axis=1, keepdims=True)
    zeros = np.zeros_like(d)
    rows = np.concatenate(
        [np.hstack([d, zeros, -uv[:, :1] * d]), np.hstack([zeros, d, -uv[:, 1:] * d])],
    )
    matrix = np.linalg.svd(rows, full_matrices=False)[2][-1].reshape(3, 3)
    return np.linalg.inv(normalise) @ matrix


def intrinsics_and_rotation(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """K (upper triangular, positive diagonal, K[2, 2] = 1) and R (a rotation) with K R proportional to `matrix`."""
    # RQ through QR of the row-reversed transpose.
    q, r = np.linalg.qr(matrix[::-1].T)
    upper, rotation = r.T[::-1, ::-1], q.T[::-1]
    signs = np.diag(np.sign(np.diag(upper)))
    upper, rotation = upper @ signs, signs @ rotation
    if np.linalg.det(rotation) < 0:  # `matrix` up to sign: -M gives the same K with a proper rotation
        rotation = -rotation
    return upper / upper[2, 2], rotation


def project_rays(K: np.ndarray, rotation: np.ndarray, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of rays (N, 3) through a camera K R at their origin, and their depths along the optical axis."""
    in_camera = rays @ rotation.T
    depth = in_camera[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        pixels = (in_camera @ K.T)[:, :2] / depth[:, None]
    return pixels, depth


def view_from_rays(
    points2D: np.ndarray, rays: np.ndarray, max_error: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K, R and the reprojection error of each pixel (inf behind the camera) of the pinhole camera that sees each
    ray (N, 3, from the camera centre) at its pixel (N, 2): fitted to all, then again to those within `max_error`
    pixels of the first fit, so that a few wrong points do not bend it."""
    inliers = np.ones(len(points2D), bool)
    for _ in range(2):
        K, rotation = intrinsics_and_rotation(rays_to_pixels_matrix(points2D[inliers], rays[inliers]))
        pixels, depth = project_rays(K, rotation, rays)
        errors = np.where(depth > 0, np.linalg.norm(pixels - points2D, axis=1), np.inf)
        if (errors < max_error).sum() < 4:
            break
        inliers = errors < max_error
    return K, rotation, errors
