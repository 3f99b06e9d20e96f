"""Planar homographies of pixels."""

from __future__ import annotations

import numpy as np


def apply_homography(H: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) pixels mapped by the 3x3 homography `H`."""
    mapped = np.c_[points, np.ones(len(points))] @ H.T
    return mapped[:, :2] / mapped[:, 2:]
