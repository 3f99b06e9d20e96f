"""`vloc match`: correspondences between image pairs, from local features or by sparse-to-dense search."""
