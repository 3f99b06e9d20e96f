"""Feature-metric pose refinement (PixLoc / GN-Net style): `vloc refine` and `vloc localize --refine featuremetric`."""
