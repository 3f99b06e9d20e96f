"""Relative pose from 2D-2D matches with known intrinsics, its error against the ground truth, and the pose AUC."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pycolmap

from vloc.geometry.rigid3d import rotation_angle_deg


class RelativePose(NamedTuple):
    """cam1_from_cam0 (translation of unit length) and the inlier mask of the matches it was estimated from."""

    cam1_from_cam0: pycolmap.Rigid3d
    inliers: np.ndarray


def estimate_relative_pose(
    pixels0: np.ndarray,
    pixels1: np.ndarray,
    camera0: pycolmap.Camera,
    camera1: pycolmap.Camera,
    max_error: float,
    confidence: float = 0.99999,
) -> RelativePose | None:
    """LO-RANSAC on matched pixels (COLMAP's convention, centres at +0.5), seeded; None where no pose is found."""
    if len(pixels0) < 5:
        return None
    options = pycolmap.RANSACOptions()
    options.max_error, options.confidence, options.random_seed = max_error, confidence, 0
    found = pycolmap.estimate_relative_pose(
        camera0, np.asarray(pixels0, np.float64), camera1, np.asarray(pixels1, np.float64), options
    )
    return None if found is None else RelativePose(found["cam2_from_cam1"], np.asarray(found["inlier_mask"], bool))


def direction_error_deg(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Angle between two translation directions up to sign (an essential matrix fixes neither scale nor sign)."""
    norms = np.linalg.norm(estimate) * np.linalg.norm(truth)
    if norms == 0:
        return np.inf
    cosine = abs(float(estimate @ truth)) / norms
    return float(np.degrees(np.arccos(min(cosine, 1.0))))


def relative_pose_errors(estimate: pycolmap.Rigid3d, truth: pycolmap.Rigid3d) -> tuple[float, float]:
    """Rotation error and translation-direction error (degrees) of a relative pose."""
    rotation_error = rotation_angle_deg(estimate.rotation.matrix() @ truth.rotation.matrix().T)
    return rotation_error, direction_error_deg(estimate.translation, truth.translation)


def pose_auc(errors: np.ndarray, thresholds: tuple[float, ...]) -> list[float]:
    """Area under the recall-error curve (trapezoids) up to each threshold, in percent of it; inf: never recalled."""
    errors = np.sort(np.asarray(errors, np.float64))
    recall = np.arange(1, len(errors) + 1) / max(len(errors), 1)
    areas = []
    for threshold in thresholds:
        last = int(np.searchsorted(errors, threshold))
        x = np.concatenate([[0.0], errors[:last], [threshold]])
        y = np.concatenate([[0.0], recall[:last], [recall[last - 1] if last else 0.0]])
        areas.append(float(100 * np.sum(np.diff(x) * (y[:-1] + y[1:]) / 2) / threshold))
    return areas
