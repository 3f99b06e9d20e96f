"""Feature-metric pose refinement (PixLoc / GN-Net style) on dense features,
shared by `vloc refine` and `vloc localize --refine`."""
