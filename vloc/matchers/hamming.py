"""Hamming nearest-neighbour matching of packed binary descriptors (ORB)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vloc.matchers.nearest_neighbor import NearestNeighbor


@dataclass(frozen=True)
class HammingConf:
    ratio_threshold: float | None = 0.8
    distance_threshold: int | None = 64  # bits
    mutual_check: bool = True


class Hamming(NearestNeighbor):
    """Bits become +-1/sqrt(B) unit vectors, so that d^2 = 2 - 2 s = 4 hamming / B and the NN machinery applies.

    The ratio test then compares square roots of Hamming distances, as Lowe's test compares distances.
    """

    default_conf = HammingConf()
    binary_descriptors = True

    def prepare(self, descriptors: np.ndarray) -> np.ndarray:
        bits = np.unpackbits(descriptors, axis=0).astype(np.float32)  # (B, N) of 0/1
        return (bits * 2 - 1) / np.float32(bits.shape[0] ** 0.5)

    def thresholds(self, dimension: int) -> tuple[float | None, float | None]:
        bits = self.conf.distance_threshold
        return self.conf.ratio_threshold, None if bits is None else (4 * bits / dimension) ** 0.5

    def score(self, squared: np.ndarray) -> np.ndarray:
        return 1 - squared / 4  # 1 - hamming / B
