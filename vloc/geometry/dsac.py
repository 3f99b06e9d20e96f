"""DSAC*'s robust pose from dense 2D-3D correspondences (scene coordinate regression): P3P hypotheses from random
minimal sets, scored by a soft inlier count, the best one refined on its inliers until they stop growing."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pycolmap

from vloc.geometry.rigid3d import rigid_from_matrix


@dataclass(frozen=True)
class DsacConf:
    num_hypotheses: int = 64
    inlier_threshold: float = 10.0  # tau, pixels
    inlier_alpha: float = 100.0  # scale of the soft inlier count
    max_pixel_error: float = 100.0  # errors are clamped here (points behind the camera get it too)
    max_refinement_steps: int = 100
    # minimal sets drawn in all before giving up on the hypotheses still missing (the release: 1e6, in C++; here each
    # try is a Python-level P3P, and 1e6 of them held a query for minutes on a network too poor to localize it)
    max_sampling_tries: int = 10_000


@dataclass(frozen=True)
class DsacPose:
    """The pose DSAC* selects and refines, with its evidence: the soft inlier score of the selected hypothesis, the
    inlier mask after refinement, and how many hypotheses were scored."""

    cam_from_world: pycolmap.Rigid3d | None
    soft_inliers: float
    inliers: np.ndarray  # (N,) bool
    num_hypotheses: int
    refinement_steps: int


def reprojection_errors(
    rotations: np.ndarray,
    translations: np.ndarray,
    points2D: np.ndarray,
    points3D: np.ndarray,
    K: np.ndarray,
    clamp: float,
) -> np.ndarray:
    """(H, N) pixel errors of the N correspondences under H poses (R: (H, 3, 3), t: (H, 3)), clamped at `clamp`;
    points at or behind the camera count as `clamp`."""
    camera_points = np.einsum("hij,nj->hni", rotations, points3D) + translations[:, None, :]
    depth = camera_points[..., 2]
    in_front = depth > 1e-6
    projected = camera_points[..., :2] / np.where(in_front, depth, 1.0)[..., None]
    pixels = projected * K[[0, 1], [0, 1]] + K[[0, 1], [2, 2]]
    errors = np.linalg.norm(pixels - points2D[None], axis=-1)
    return np.where(in_front, np.minimum(errors, clamp), clamp)


def soft_inlier_score(errors: np.ndarray, conf: DsacConf) -> np.ndarray:
    """alpha / N * sum over cells of 1 - sigmoid(beta (error - tau)), beta = 5 / tau: about alpha times the inlier
    share, differentiable in the errors."""
    beta = 5.0 / conf.inlier_threshold
    inside = 1.0 - 1.0 / (1.0 + np.exp(-beta * (errors - conf.inlier_threshold)))
    return conf.inlier_alpha * inside.mean(axis=-1)


def sample_hypotheses(
    points2D: np.ndarray, points3D: np.ndarray, K: np.ndarray, conf: DsacConf, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Up to `num_hypotheses` poses, each by P3P from 4 random correspondences and kept only if all 4 reproject within
    tau: rotations (H, 3, 3) and translations (H, 3)."""
    rotations, translations = [], []
    for _ in range(conf.max_sampling_tries):
        if len(rotations) == conf.num_hypotheses:
            break
        chosen = rng.choice(len(points2D), 4, replace=False)
        ok, rvec, tvec = cv2.solvePnP(points3D[chosen], points2D[chosen], K, None, flags=cv2.SOLVEPNP_P3P)
        if not ok:
            continue
        rotation, translation = cv2.Rodrigues(rvec)[0], tvec.reshape(3)
        errors = reprojection_errors(
            rotation[None], translation[None], points2D[chosen], points3D[chosen], K, conf.max_pixel_error
        )
        if (errors < conf.inlier_threshold).all():
            rotations.append(rotation)
            translations.append(translation)
    return np.array(rotations).reshape(-1, 3, 3), np.array(translations).reshape(-1, 3)


def refine_on_inliers(
    rotation: np.ndarray,
    translation: np.ndarray,
    points2D: np.ndarray,
    points3D: np.ndarray,
    K: np.ndarray,
    conf: DsacConf,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Re-estimate the pose on the correspondences within tau (iterative PnP from the current pose; P3P on exactly 4)
    until their number stops growing: the pose, the inlier mask and the steps taken."""
    errors = reprojection_errors(rotation[None], translation[None], points2D, points3D, K, conf.max_pixel_error)[0]
    inliers = errors < conf.inlier_threshold
    steps = 0
    while steps < conf.max_refinement_steps and inliers.sum() >= 4:
        steps += 1
        flags = cv2.SOLVEPNP_P3P if inliers.sum() == 4 else cv2.SOLVEPNP_ITERATIVE
        rvec = cv2.Rodrigues(rotation)[0]
        ok, rvec, tvec = cv2.solvePnP(
            points3D[inliers],
            points2D[inliers],
            K,
            None,
            rvec,
            translation.reshape(3, 1).copy(),
            useExtrinsicGuess=flags == cv2.SOLVEPNP_ITERATIVE,
            flags=flags,
        )
        if not ok:
            break
        new_rotation, new_translation = cv2.Rodrigues(rvec)[0], tvec.reshape(3)
        errors = reprojection_errors(
            new_rotation[None], new_translation[None], points2D, points3D, K, conf.max_pixel_error
        )[0]
        new_inliers = errors < conf.inlier_threshold
        if new_inliers.sum() <= inliers.sum():
            break
        rotation, translation, inliers = new_rotation, new_translation, new_inliers
    return rotation, translation, inliers, steps


def dsac_pose(
    points2D: np.ndarray, points3D: np.ndarray, K: np.ndarray, conf: DsacConf = DsacConf(), seed: int = 0
) -> DsacPose:
    """The DSAC* pose of a camera with intrinsics K (3x3) from N pixel positions (N, 2) and their predicted scene
    coordinates (N, 3): hypotheses scored by soft inlier count, the best refined."""
    points2D = np.ascontiguousarray(points2D, np.float64)
    points3D = np.ascontiguousarray(points3D, np.float64)
    K = np.asarray(K, np.float64)
    empty = DsacPose(None, 0.0, np.zeros(len(points2D), bool), 0, 0)
    if len(points2D) < 4:
        return empty
    rotations, translations = sample_hypotheses(points2D, points3D, K, conf, np.random.default_rng(seed))
    if not len(rotations):
        return empty
    errors = reprojection_errors(rotations, translations, points2D, points3D, K, conf.max_pixel_error)
    scores = soft_inlier_score(errors, conf)
    best = int(np.argmax(scores))
    rotation, translation, inliers, steps = refine_on_inliers(
        rotations[best], translations[best], points2D, points3D, K, conf
    )
    return DsacPose(rigid_from_matrix(rotation, translation), float(scores[best]), inliers, len(rotations), steps)
