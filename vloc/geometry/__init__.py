"""Geometry shared by all stages: rigid poses (torch `Pose` and pycolmap `Rigid3d` helpers), cameras, reprojection,
epipolar relations, homographies, landmark clusters of 3D points and per-pixel label maps."""
