"""VLAD of RootSIFT (Jegou et al., Arandjelovic & Zisserman): intra-, power- and L2-normalised, optionally PCA-reduced
and whitened."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vloc.errors import ConfigError
from vloc.extractors.sift import SIFT
from vloc.global_descriptors.base import GlobalDescriptor
from vloc.global_descriptors.rootsift import VLAD_SIFT
from vloc.global_descriptors.vocabulary import VocabularyConf, load_vocabulary


@dataclass(frozen=True)
class VLADConf(VocabularyConf):
    vocabulary: str = ""  # .npz from `vloc vocab build`; empty: `vloc extract` builds <out stem>.vocab.npz


def l2_normalise(vectors: np.ndarray, axis: int = -1) -> np.ndarray:
    """Unit L2 norm along `axis`; all-zero vectors stay zero."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=axis, keepdims=True), 1e-12)


def vlad_residuals(descriptors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(K, D) sums of the residuals of (N, D) descriptors to their nearest of the (K, D) centroids."""
    distances = (centroids**2).sum(1) - 2 * descriptors @ centroids.T
    assignment = distances.argmin(1)
    sums = np.zeros_like(centroids)
    np.add.at(sums, assignment, descriptors)
    return sums - np.bincount(assignment, minlength=len(centroids))[:, None] * centroids


def power_normalise(vector: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Signed power: sign(v) |v|^alpha, damping bursty visual words."""
    return np.sign(vector) * np.abs(vector) ** alpha


def vlad_vector(descriptors: np.ndarray, centroids: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Intra-normalised (per cluster), power-normalised then L2-normalised (K * D,) VLAD."""
    residuals = l2_normalise(vlad_residuals(descriptors.astype(np.float32), centroids))
    return l2_normalise(power_normalise(residuals.ravel(), alpha)).astype(np.float32)


class VLAD(GlobalDescriptor):
    default_conf = VLADConf()
    grayscale = True

    def _init(self, conf: VLADConf) -> None:
        if not conf.vocabulary:
            raise ConfigError("vlad needs a vocabulary: set vocabulary=FILE (from `vloc vocab build`)")
        self.vocabulary = load_vocabulary(Path(conf.vocabulary))
        self.sift = SIFT(VLAD_SIFT)

    def _forward(self, image: np.ndarray) -> np.ndarray:
        return self.from_rootsift(self.sift(image)["descriptors"].T)

    def from_rootsift(self, descriptors: np.ndarray) -> np.ndarray:
        """The VLAD of an image's (N, 128) RootSIFT, as computed by `self.sift`."""
        vector = vlad_vector(descriptors.astype(np.float32), self.vocabulary.centroids, self.vocabulary.conf.alpha)
        return l2_normalise(self.vocabulary.project(vector[None])[0])
