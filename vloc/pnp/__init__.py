"""2D-3D matching against a triangulated model and absolute pose estimation, shared by every localization method."""
