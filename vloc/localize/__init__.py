"""`vloc localize`: 6-DoF query poses by hierarchical localization or by global instance recognition (LBR)."""
