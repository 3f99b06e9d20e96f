"""`vote`: weight-free recognition: query descriptors vote for the instance of their nearest labelled
database keypoint."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vloc.io.features import Features
from vloc.matchers.nearest_neighbor import unit_columns
from vloc.recognizers.base import Recognition, Recognizer, label_map_from_keypoints


@dataclass(frozen=True)
class VoteConf:
    ratio_threshold: float = 0.85  # distance to the nearest labelled keypoint vs the nearest one of another instance
    candidates: int = 32  # nearest neighbours searched for that rival
    min_votes: int = 3  # an instance needs this many votes to be recognised
    max_instances: int = 10
    fill_radius: float = 32.0  # pixels: query keypoint labels spread to this distance in the label map


def largest_k(similarity: torch.Tensor, k: int, block: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.topk(similarity, k) of a wide (rows, columns) matrix, searched only in the k blocks of `block` columns
    with the largest maxima of each row, where its k largest entries must lie: about twice as fast."""
    rows, columns = similarity.shape
    full = columns // block * block
    maxima = similarity[:, :full].reshape(rows, -1, block).amax(2)
    if full < columns:
        maxima = torch.cat([maxima, similarity[:, full:].amax(1, keepdim=True)], 1)
    if maxima.shape[1] <= k:
        return torch.topk(similarity, k)
    candidates = (torch.topk(maxima, k).indices[:, :, None] * block + torch.arange(block)).reshape(rows, -1)
    values = torch.gather(similarity, 1, candidates.clamp(max=columns - 1)).masked_fill_(
        candidates >= columns, -torch.inf
    )
    largest, position = torch.topk(values, k)
    return largest, torch.gather(candidates, 1, position)


class Vote(Recognizer):
    default_conf = VoteConf()

    def _init(self, conf: VoteConf) -> None:
        descriptors, labels = [], []
        for name in self.instances.names:
            keypoint_labels = self.instances.keypoint_labels(name)
            labelled = np.flatnonzero(keypoint_labels > 0)
            if len(labelled):
                descriptors.append(self.db_features.read(name).descriptors[:, labelled].astype(np.float32))
                labels.append(keypoint_labels[labelled])
        if not descriptors:
            self.db_descriptors, self.db_labels = np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
            return
        self.db_descriptors = unit_columns(np.concatenate(descriptors, 1))
        self.db_labels = np.concatenate(labels)

    @torch.inference_mode()
    def keypoint_votes(self, descriptors: np.ndarray) -> np.ndarray:
        """The instance each query keypoint votes for (0: no vote), by the ratio test against other instances."""
        votes = np.zeros(descriptors.shape[1], np.int64)
        if not len(self.db_labels) or not descriptors.shape[1]:
            return votes
        query = unit_columns(descriptors)
        k = min(self.conf.candidates, len(self.db_labels))
        for start in range(0, query.shape[1], 512):
            # NumPy's GEMM (OpenBLAS) is faster than torch's on these CPUs
            similarity, index = largest_k(torch.from_numpy(query[:, start : start + 512].T @ self.db_descriptors), k)
            labels = self.db_labels[index.numpy()]
            squared = np.clip(2 - 2 * similarity.numpy(), 0, None)
            rival = labels != labels[:, :1]
            has_rival = rival.any(1)
            rival_squared = np.where(has_rival, squared[np.arange(len(labels)), rival.argmax(1)], np.inf)
            accepted = squared[:, 0] <= self.conf.ratio_threshold**2 * rival_squared
            votes[start : start + len(labels)] = np.where(accepted, labels[:, 0], 0)
        return votes

    def recognize(self, image: np.ndarray, features: Features) -> Recognition:
        votes = self.keypoint_votes(features.descriptors)
        ids, counts = np.unique(votes[votes > 0], return_counts=True)
        order = np.argsort(-counts, kind="stable")[: self.conf.max_instances]
        order = order[counts[order] >= self.conf.min_votes]
        instances, scores = ids[order], (counts[order] / max(counts.sum(), 1)).astype(np.float32)
        labels = np.where(np.isin(votes, instances), votes, 0)
        height, width = image.shape[:2]
        return Recognition(
            instances,
            scores,
            label_map_from_keypoints(features.keypoints, labels, width, height, self.conf.fill_radius),
        )
