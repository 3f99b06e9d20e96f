"""Nearest-neighbour matching of L2-normalised descriptors: mutual check, Lowe ratio, distance threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vloc.matchers.base import Matcher


@dataclass(frozen=True)
class NearestNeighborConf:
    ratio_threshold: float | None = 0.8
    distance_threshold: float | None = None
    mutual_check: bool = True


def unit_columns(descriptors: np.ndarray) -> np.ndarray:
    """(D, N) descriptors as float32 with unit columns (all-zero columns stay zero)."""
    descriptors = np.asarray(descriptors, np.float32)
    return descriptors / np.maximum(np.linalg.norm(descriptors, axis=0), 1e-12)


def match_similarity(
    similarity: np.ndarray, ratio: float | None, distance: float | None, mutual: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Matches0 (-1 unmatched) and the best squared distance of each row of a cosine-similarity matrix.

    Thresholds apply to Euclidean distances of unit vectors, d^2 = 2 - 2 s, in both directions when `mutual`.
    Mutuality is tested by value (s[i, j] is the maximum of column j), which avoids a column argmax; the
    column runner-up is the column maximum once the mutual matches are masked. `similarity` is modified.
    """
    rows = np.arange(similarity.shape[0])
    best = similarity.argmax(1)
    best_similarity = similarity[rows, best].copy()
    similarity[rows, best] = -np.inf
    second_row = similarity.max(1) if similarity.shape[1] > 1 else np.full(len(rows), -np.inf, np.float32)
    similarity[rows, best] = best_similarity
    squared = np.clip(2 - 2 * best_similarity, 0, None)
    valid = np.ones(len(rows), bool)
    if ratio is not None:
        valid &= squared <= ratio**2 * (2 - 2 * second_row)
    if distance is not None:
        valid &= squared <= distance**2
    if mutual:
        column_max = similarity.max(0)
        valid &= best_similarity >= column_max[best]
        if ratio is not None:
            similarity[rows[valid], best[valid]] = -np.inf
            second_column = similarity.max(0) if similarity.shape[0] > 1 else np.full(similarity.shape[1], -np.inf)
            valid &= squared <= ratio**2 * (2 - 2 * second_column[best])
    return np.where(valid, best, -1), squared


class NearestNeighbor(Matcher):
    default_conf = NearestNeighborConf()

    def prepare(self, descriptors: np.ndarray) -> np.ndarray:
        return unit_columns(descriptors)

    def thresholds(self, dimension: int) -> tuple[float | None, float | None]:
        """Ratio and Euclidean distance thresholds on unit descriptors of `dimension` entries."""
        return self.conf.ratio_threshold, self.conf.distance_threshold

    def score(self, squared: np.ndarray) -> np.ndarray:
        return 1 - squared / 2  # cosine similarity

    def _forward(self, desc0: np.ndarray, descs1: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        ratio, distance = self.thresholds(desc0.shape[0])
        results = []
        for desc1 in descs1:
            similarity = desc0.T @ desc1
            matches0, squared0 = match_similarity(similarity, ratio, distance, self.conf.mutual_check)
            results.append((matches0, np.where(matches0 > -1, self.score(squared0), 0).astype(np.float32)))
        return results
