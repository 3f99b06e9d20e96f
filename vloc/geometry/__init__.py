"""Geometry shared by all stages: rigid poses, cameras, epipolar relations, pose errors, landmark clusters of 3D
points and per-pixel label maps."""

from .pose import (
    camera_center,
    nearest_rotation,
    pose_errors,
    relative_pose,
    rigid_from_matrix,
    rotation_angle_deg,
)
from .epipolar import essential_from_poses, fundamental_from_poses, epipolar_distances

__all__ = [
    "camera_center",
    "nearest_rotation",
    "pose_errors",
    "relative_pose",
    "rigid_from_matrix",
    "rotation_angle_deg",
    "essential_from_poses",
    "fundamental_from_poses",
    "epipolar_distances",
]
