"""`vloc triangulate` and `vloc sfm`: COLMAP models from known poses or from scratch."""
