"""DSAC* pose solving from dense scene coordinates: exact with half the cells wrong, graceful under noise."""

from __future__ import annotations

import numpy as np
import pytest

from vloc.geometry.dsac import DsacConf, dsac_pose, soft_inlier_score
from vloc.geometry.rigid3d import pose_errors, rigid_from_matrix

K = np.array([[525.0, 0, 320], [0, 525.0, 240], [0, 0, 1]])


def scene_coordinates(seed: int = 0) -> tuple[np.ndarray, np.ndarray, object]:
    """Cells of a 640x480 image at stride 8 (centres 8x + 4), the scene coordinates they see (depth 1 to 4 m on two
    slanted planes) and the camera's true pose."""
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.arange(80) * 8 + 4.0, np.arange(60) * 8 + 4.0)
    pixels = np.stack([u.ravel(), v.ravel()], axis=1)
    depth = np.where(pixels[:, 0] < 320, 1.0 + pixels[:, 1] / 240, 4.0 - pixels[:, 0] / 640)
    rays = np.linalg.solve(K, np.concatenate([pixels, np.ones((len(pixels), 1))], axis=1).T).T
    axis = rng.normal(size=3)
    angle = np.radians(30)
    axis /= np.linalg.norm(axis)
    skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew
    truth = rigid_from_matrix(rotation, rng.normal(size=3))
    camera_points = rays * depth[:, None]
    world = (camera_points - truth.translation) @ truth.rotation.matrix()  # R^T (x - t)
    return pixels, world, truth


def with_outliers(world: np.ndarray, share: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Replace `share` of the coordinates by random points in the scene's bounding box; the mask of those kept."""
    rng = np.random.default_rng(seed)
    wrong = rng.random(len(world)) < share
    noisy = world.copy()
    noisy[wrong] = rng.uniform(world.min(0), world.max(0), size=(wrong.sum(), 3))
    return noisy, ~wrong


def test_exact_coordinates_with_half_outliers_give_the_true_pose():
    pixels, world, truth = scene_coordinates()
    coordinates, correct = with_outliers(world, 0.5)
    result = dsac_pose(pixels, coordinates, K)
    translation_error, rotation_error = pose_errors(result.cam_from_world, truth)
    assert translation_error < 1e-3 and rotation_error < 0.1
    assert result.num_hypotheses == 64 and result.refinement_steps >= 1
    assert (result.inliers & correct).sum() >= 0.99 * correct.sum()  # the true cells are found ...
    assert (result.inliers & ~correct).sum() <= 0.01 * correct.sum()  # ... and few others
    assert 40 < result.soft_inliers < 60  # about alpha (100) times the best hypothesis's inlier share (0.5)


def test_noisy_coordinates_degrade_the_pose_gracefully():
    pixels, world, truth = scene_coordinates(seed=2)
    rng = np.random.default_rng(3)
    errors = []
    for sigma in (0.0, 0.01, 0.05):
        coordinates, _ = with_outliers(world + sigma * rng.normal(size=world.shape), 0.3, seed=4)
        result = dsac_pose(pixels, coordinates, K)
        errors.append(pose_errors(result.cam_from_world, truth))
    (exact, _), (small, small_rotation), (large, large_rotation) = errors
    assert exact < 1e-3
    assert small < 0.01 and small_rotation < 1.0  # thousands of inliers average the noise below its own size
    assert large < 0.1 and large_rotation < 3.0  # noise near tau (5 cm is ~10 px): fewer inliers, within twice it
    assert exact < small < large  # and more noise costs more


def test_soft_inlier_score_and_too_few_cells():
    conf = DsacConf()
    assert soft_inlier_score(np.zeros((1, 10)), conf)[0] == pytest.approx(100 * (1 - 1 / (1 + np.exp(5))))
    assert soft_inlier_score(np.full((1, 10), 10.0), conf)[0] == pytest.approx(50.0)
    assert soft_inlier_score(np.full((1, 10), 100.0), conf)[0] < 1e-10
    pixels, world, _ = scene_coordinates()
    result = dsac_pose(pixels[:3], world[:3], K)
    assert result.cam_from_world is None and result.num_hypotheses == 0 and not result.inliers.any()
