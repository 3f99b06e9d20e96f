"""Ground-to-aerial 3-DoF localization (DenseFlow): `vloc crossview localize` and `vloc crossview evaluate`."""
