"""Per-pixel label maps of an image from labelled keypoints."""

from __future__ import annotations

import cv2
import numpy as np


def pixel_indices(keypoints: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the pixel holding each keypoint (floor of COLMAP coordinates), clipped to the image."""
    rows = np.clip(np.floor(keypoints[:, 1]).astype(np.int64), 0, shape[0] - 1)
    cols = np.clip(np.floor(keypoints[:, 0]).astype(np.int64), 0, shape[1] - 1)
    return rows, cols


def fill_mask(keypoints: np.ndarray, labels: np.ndarray, shape: tuple[int, int], fill_radius: float) -> np.ndarray:
    """(H, W) int32 map: each pixel takes the label of the nearest labelled keypoint within `fill_radius` pixels."""
    seeds = np.full(shape, 255, np.uint8)
    seed_labels = np.zeros(shape, np.int32)
    rows, cols = pixel_indices(keypoints[labels > 0], shape)
    seeds[rows, cols] = 0
    seed_labels[rows, cols] = labels[labels > 0]
    if not len(rows):
        return seed_labels
    distance, nearest = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    lookup = np.zeros(nearest.max() + 1, np.int32)
    lookup[nearest[rows, cols]] = seed_labels[rows, cols]
    return np.where(distance <= fill_radius, lookup[nearest], 0).astype(np.int32)
