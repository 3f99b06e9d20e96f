"""Nearest-neighbour matching of L2-normalised descriptors: mutual check, Lowe ratio, distance threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vloc.matchers.base import Matcher

if TYPE_CHECKING:
    from vloc.matchers.bf16_screen import Bf16Screen

# Similarity entries after which float32 products have cost a process about torch's import time (1.3 s at about 3 ns
# an entry): from then on the bfloat16 screen (vloc.matchers.bf16_screen) pays for loading torch.
SCREEN_AFTER_ENTRIES = 400_000_000


@dataclass(frozen=True)
class NearestNeighborConf:
    ratio_threshold: float | None = 0.8
    distance_threshold: float | None = None
    mutual_check: bool = True


def unit_columns(descriptors: np.ndarray) -> np.ndarray:
    """(D, N) descriptors as float32 with unit columns (all-zero columns stay zero)."""
    descriptors = np.asarray(descriptors, np.float32)
    return descriptors / np.maximum(np.linalg.norm(descriptors, axis=0), 1e-12)


def best_in_rows(
    similarity: np.ndarray, ratio: float | None, distance: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's most similar column, its squared distance, and whether it passes the ratio and distance tests.

    Thresholds apply to Euclidean distances of unit vectors, d^2 = 2 - 2 s. `similarity` is modified and restored.
    """
    rows = np.arange(similarity.shape[0])
    best = similarity.argmax(1)
    best_similarity = similarity[rows, best].copy()
    similarity[rows, best] = -np.inf
    second = similarity.max(1) if similarity.shape[1] > 1 else np.full(len(rows), -np.inf, np.float32)
    similarity[rows, best] = best_similarity
    squared = np.clip(2 - 2 * best_similarity, 0, None)
    valid = np.ones(len(rows), bool)
    if ratio is not None:
        valid &= squared <= ratio**2 * (2 - 2 * second)
    if distance is not None:
        valid &= squared <= distance**2
    return best, squared, valid


def mutual_in_columns(
    columns: np.ndarray, rows: np.ndarray, best: np.ndarray, squared: np.ndarray, valid: np.ndarray, ratio: float | None
) -> np.ndarray:
    """`valid` narrowed to the rows that are also their column's nearest neighbour and pass its ratio test.

    `columns` holds every row's similarity with some columns, `rows` and `best` index the entries tested in it.
    Mutuality is tested by value (the entry is its column's maximum), which avoids a column argmax; the column
    runner-up is the column maximum once the mutual matches are masked. `columns` is modified.
    """
    valid = valid & (columns[rows, best] >= columns.max(0)[best])
    if ratio is not None:
        columns[rows[valid], best[valid]] = -np.inf
        second = columns.max(0) if columns.shape[0] > 1 else np.full(columns.shape[1], -np.inf, np.float32)
        valid &= squared <= ratio**2 * (2 - 2 * second[best])
    return valid


def match_similarity(
    similarity: np.ndarray, ratio: float | None, distance: float | None, mutual: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Matches0 (-1 unmatched) and the best squared distance of each row of a cosine-similarity matrix, tested both
    ways when `mutual`. `similarity` is modified."""
    best, squared, valid = best_in_rows(similarity, ratio, distance)
    if mutual:
        valid = mutual_in_columns(similarity, np.arange(len(best)), best, squared, valid, ratio)
    return np.where(valid, best, -1), squared


def match_descriptors(
    desc0: np.ndarray,
    desc1: np.ndarray,
    ratio: float | None,
    distance: float | None,
    mutual: bool,
    screen: Bf16Screen | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Matches0 of two sets of unit columns (D, N) and the squared distances of the matched rows.

    `screen` (a `Bf16Screen` of desc0): the float32 product only of the rows a bfloat16 product cannot rule out, and
    of the columns their nearest neighbours lie in: faster on CPUs with bfloat16 hardware, and the same matches,
    except where a test ties to float32 rounding (torch's product sums in another order than NumPy's).
    """
    if screen is None or (ratio is None and distance is None) or desc1.shape[1] < 2:
        return match_similarity(desc0.T @ desc1, ratio, distance, mutual)
    rows = screen.candidate_rows(desc1, ratio, distance)
    best, squared, valid = best_in_rows(screen.float32_product(desc0[:, rows].T, desc1), ratio, distance)
    rows, best, squared = rows[valid], best[valid], squared[valid]
    if mutual:
        columns, best_column = np.unique(best, return_inverse=True)
        valid = mutual_in_columns(
            screen.float32_product(desc0.T, desc1[:, columns]),
            rows,
            best_column,
            squared,
            np.ones(len(rows), bool),
            ratio,
        )
        rows, best, squared = rows[valid], best[valid], squared[valid]
    matches0, squared0 = np.full(desc0.shape[1], -1), np.full(desc0.shape[1], 4.0, np.float32)
    matches0[rows], squared0[rows] = best, squared
    return matches0, squared0


class NearestNeighbor(Matcher):
    default_conf = NearestNeighborConf()

    def _init(self, conf: NearestNeighborConf) -> None:
        self.entries_matched = 0

    def prepare(self, descriptors: np.ndarray) -> np.ndarray:
        return unit_columns(descriptors)

    def thresholds(self, dimension: int) -> tuple[float | None, float | None]:
        """Ratio and Euclidean distance thresholds on unit descriptors of `dimension` entries."""
        return self.conf.ratio_threshold, self.conf.distance_threshold

    def score(self, squared: np.ndarray) -> np.ndarray:
        return 1 - squared / 2  # cosine similarity

    def screen(self, desc0: np.ndarray, descs1: list[np.ndarray]) -> Bf16Screen | None:
        """A bfloat16 screen of desc0 on hardware for it, once this matcher's products have cost about as long as
        loading torch does; else None."""
        self.entries_matched += desc0.shape[1] * sum(d.shape[1] for d in descs1)
        if self.entries_matched < SCREEN_AFTER_ENTRIES:
            return None
        from vloc.matchers.bf16_screen import Bf16Screen, is_fast  # torch

        return Bf16Screen(desc0) if is_fast() else None

    def _forward(self, desc0: np.ndarray, descs1: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        ratio, distance = self.thresholds(desc0.shape[0])
        screen = self.screen(desc0, descs1)
        results = []
        for desc1 in descs1:
            matches0, squared0 = match_descriptors(desc0, desc1, ratio, distance, self.conf.mutual_check, screen)
            results.append((matches0, np.where(matches0 > -1, self.score(squared0), 0).astype(np.float32)))
        return results
