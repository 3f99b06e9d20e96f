"""Quaternion-order and camera-centre conversions of vloc.geometry.rigid3d."""

from __future__ import annotations

import numpy as np

from vloc.geometry.rigid3d import cam_from_world_at, camera_center, qvec_wxyz, rigid_from_qvec_wxyz


def test_rigid_from_qvec_wxyz_reads_w_first_and_normalises():
    half = np.sqrt(0.5)
    pose = rigid_from_qvec_wxyz([2 * half, 0, 0, 2 * half], [1, 2, 3])  # 90 degrees about z, scaled by 2
    np.testing.assert_allclose(pose.rotation.matrix(), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(qvec_wxyz(pose), [half, 0, 0, half])
    np.testing.assert_allclose(pose.translation, [1, 2, 3])


def test_cam_from_world_at_keeps_the_centre_and_rotation():
    centre = np.array([4.0, -1.0, 2.5])
    qvec = np.array([0.9, 0.1, -0.3, 0.2])
    pose = cam_from_world_at(qvec, centre)
    np.testing.assert_allclose(camera_center(pose), centre, atol=1e-12)
    np.testing.assert_allclose(qvec_wxyz(pose), qvec / np.linalg.norm(qvec), atol=1e-12)
    np.testing.assert_allclose(pose * centre[None], [[0, 0, 0]], atol=1e-12)
