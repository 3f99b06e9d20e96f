"""`vloc evaluate`: poses against ground truth, ground-truth consistency, retrieval, and their reports."""
