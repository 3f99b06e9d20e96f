"""Feature-metric pose refinement (PixLoc / GN-Net style)."""
