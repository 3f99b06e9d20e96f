"""Rigid poses (cam_from_world, COLMAP convention) as pycolmap.Rigid3d, and the errors between them."""

from __future__ import annotations

import numpy as np
import pycolmap


def nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    """Project a 3x3 matrix onto SO(3) (closest rotation in Frobenius norm, by SVD)."""
    u, _, vt = np.linalg.svd(matrix)
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    return u @ fix @ vt


def rigid_from_matrix(rotation: np.ndarray, translation: np.ndarray) -> pycolmap.Rigid3d:
    """A Rigid3d from R (projected onto SO(3)) and t."""
    rotation = nearest_rotation(np.asarray(rotation, np.float64))
    return pycolmap.Rigid3d(pycolmap.Rotation3d(rotation), np.asarray(translation, np.float64).reshape(3))


def rigid_from_qvec_wxyz(qvec_wxyz: np.ndarray, translation: np.ndarray) -> pycolmap.Rigid3d:
    """A Rigid3d from a quaternion in the order of text files (w first; normalised here, not zero) and t."""
    w, x, y, z = np.asarray(qvec_wxyz, np.float64)
    quat_xyzw = np.array([x, y, z, w])
    rotation = pycolmap.Rotation3d(quat_xyzw / np.linalg.norm(quat_xyzw))
    return pycolmap.Rigid3d(rotation, np.asarray(translation, np.float64).reshape(3))


def cam_from_world_at(qvec_wxyz: np.ndarray, centre: np.ndarray) -> pycolmap.Rigid3d:
    """cam_from_world of a camera at `centre` (world) whose cam_from_world rotation is `qvec_wxyz`: t = -R c (the
    convention of VisualSFM's NVM and Cambridge Landmarks' pose lists)."""
    rotation = rigid_from_qvec_wxyz(qvec_wxyz, np.zeros(3)).rotation
    return pycolmap.Rigid3d(rotation, -rotation.matrix() @ np.asarray(centre, np.float64).reshape(3))


def cam_from_world_of(world_from_cam: np.ndarray) -> pycolmap.Rigid3d:
    """Invert a camera-to-world matrix (3x4 or 4x4); R is projected onto SO(3) first, so that the camera centre stays
    exactly the matrix's."""
    rotation = nearest_rotation(world_from_cam[:3, :3]).T
    return rigid_from_matrix(rotation, -rotation @ world_from_cam[:3, 3])


def camera_center(cam_from_world: pycolmap.Rigid3d) -> np.ndarray:
    """Position of the camera in world coordinates."""
    return cam_from_world.inverse().translation


def is_finite_pose(pose: pycolmap.Rigid3d) -> bool:
    """Whether a pose is a pose: a NaN or zero quaternion (NaN once normalised) or a NaN / inf translation is not."""
    return bool(np.isfinite(pose.rotation.quat).all() and np.isfinite(pose.translation).all())


def relative_pose(cam0_from_world: pycolmap.Rigid3d, cam1_from_world: pycolmap.Rigid3d) -> pycolmap.Rigid3d:
    """cam1_from_cam0."""
    return cam1_from_world * cam0_from_world.inverse()


def rotation_angle_deg(rotation: np.ndarray) -> float:
    """Angle of a rotation matrix in degrees, accurate near 0 and 180 (atan2 of sine and cosine parts)."""
    cos = (np.trace(rotation) - 1) / 2
    axis = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0], rotation[1, 0] - rotation[0, 1]])
    sin = np.linalg.norm(axis) / 2
    return float(np.degrees(np.arctan2(sin, cos)))


def pose_errors(estimate: pycolmap.Rigid3d, truth: pycolmap.Rigid3d) -> tuple[float, float]:
    """Camera-centre distance and rotation angle (deg) between two cam_from_world poses.

    Rigid3d stores unit quaternions, so ground truth read through `rigid_from_matrix` is already on SO(3).
    """
    dt = float(np.linalg.norm(camera_center(estimate) - camera_center(truth)))
    return dt, rotation_angle_deg(estimate.rotation.matrix() @ truth.rotation.matrix().T)


def qvec_wxyz(pose: pycolmap.Rigid3d) -> list[float]:
    """The rotation quaternion in the order results files and COLMAP text models use (w first)."""
    qx, qy, qz, qw = pose.rotation.quat
    return [float(qw), float(qx), float(qy), float(qz)]


def pose_record(cam_from_world: pycolmap.Rigid3d) -> dict[str, list[float]]:
    """A pose for a JSON log: {"qvec_wxyz": [w, x, y, z], "tvec": [x, y, z]}."""
    return {"qvec_wxyz": qvec_wxyz(cam_from_world), "tvec": cam_from_world.translation.tolist()}


def pose_from_record(record: dict[str, list[float]]) -> pycolmap.Rigid3d:
    """The pose a `pose_record` describes."""
    return rigid_from_qvec_wxyz(record["qvec_wxyz"], record["tvec"])
