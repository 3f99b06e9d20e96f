"""Ground-truth matches between the stored keypoints of two RGB-D frames, for training matchers: a keypoint matches
the other image's keypoint nearest its reprojection when both reprojections land within `inlier_px` of each other's
keypoint and they are each other's nearest (cycle check); it is unmatched when its reprojection is visible and no
keypoint lies within `outlier_px`, or when it falls outside or behind the other image's surfaces; left out otherwise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from vloc.errors import ConfigError, InputError
from vloc.io.features import FeatureReader, Features
from vloc.models.imp import KeypointPair
from vloc.train.data import RGBDFrame, RGBDPairs, depth_agrees, read_depth, reproject
from vloc.train.keypoint_pairs import TrainingPair

UNMATCHED, LEFT_OUT = -1, -2


@dataclass(frozen=True)
class KeypointMatchesConf:
    inlier_px: float = 4.0  # the release: 5 px at 768 px images
    outlier_px: float = 12.0  # the release: 15 px
    max_keypoints: int = 512  # per image and sample, drawn at random: true matches first, then the others
    min_matches: int = 32  # a sample keeps a random number of true matches between these two ...
    max_matches: int = 256  # ... (the release: 32 to 512), the rest of them leave the sample
    depth_tolerance: float = 0.02  # relative: reprojected depth vs the other depth map (occlusion)
    seed: int = 0

    def __post_init__(self):
        if not 0 < self.inlier_px <= self.outlier_px:
            raise ConfigError("keypoint matches need 0 < inlier_px <= outlier_px")
        if not 1 <= self.min_matches <= self.max_matches <= self.max_keypoints:
            raise ConfigError("keypoint matches need 1 <= min_matches <= max_matches <= max_keypoints")


def _transfer(features: Features, source: RGBDFrame, target: RGBDFrame, tolerance: float):
    """Reprojection (N, 2) of each keypoint into `target` (hloc pixels), whether its depth is known, and whether it
    lands inside `target` on an unoccluded surface."""
    depth = read_depth(source)
    pixels = torch.from_numpy(features.keypoints.astype(np.float64)) + 0.5  # COLMAP pixels
    height, width = depth.shape
    rows = pixels[:, 1].floor().long().clamp(0, height - 1)
    cols = pixels[:, 0].floor().long().clamp(0, width - 1)
    depths = depth[rows, cols]
    known = depths > 0
    pixels1, depths1, inside = reproject(pixels, depths, source, target)
    visible = known & inside & depth_agrees(pixels1, depths1, read_depth(target), tolerance)
    return (pixels1 - 0.5).numpy(), known.numpy(), visible.numpy()


def keypoint_matches(
    features0: Features, features1: Features, frame0: RGBDFrame, frame1: RGBDFrame, conf: KeypointMatchesConf
) -> tuple[np.ndarray, np.ndarray]:
    """matches0 (N0,) and matches1 (N1,): the partner's index, UNMATCHED (-1) or LEFT_OUT (-2, ambiguous)."""
    directions = []
    for source, target, features, other in (
        (frame0, frame1, features0, features1),
        (frame1, frame0, features1, features0),
    ):
        transferred, known, visible = _transfer(features, source, target, conf.depth_tolerance)
        if len(other.keypoints):
            distance, nearest = cKDTree(other.keypoints).query(transferred)
        else:
            distance, nearest = np.full(len(transferred), np.inf), np.zeros(len(transferred), int)
        labels = np.full(len(transferred), LEFT_OUT)
        labels[known & ~visible] = UNMATCHED  # seen by no keypoint of the other image: outside, or hidden there
        labels[visible & (distance > conf.outlier_px)] = UNMATCHED
        close = visible & (distance <= conf.inlier_px)
        directions.append((labels, np.where(close, nearest, -1)))
    (matches0, close0), (matches1, close1) = directions
    candidates = np.flatnonzero(close0 >= 0)
    mutual = candidates[close1[close0[candidates]] == candidates]
    matches0[mutual] = close0[mutual]
    matches1[close0[mutual]] = mutual
    # a keypoint near another's reprojection but not its cycle partner: ambiguous, not a negative
    matches0[(close0 >= 0) & (matches0 < 0)] = LEFT_OUT
    matches1[(close1 >= 0) & (matches1 < 0)] = LEFT_OUT
    return matches0, matches1


class KeypointMatchPairs:
    """Training pairs of keypoints: the frame pairs of an RGB-D dataset, the keypoints of a features file, their
    ground truth by `keypoint_matches`; each sample a random subset (seeded by conf.seed, epoch and index)."""

    def __init__(self, frames: RGBDPairs, features: FeatureReader, conf: KeypointMatchesConf = KeypointMatchesConf()):
        self.frames, self.features, self.conf = frames, features, conf
        missing = sorted({name for pair in frames.pairs for name in pair if name not in features})
        if missing:
            raise InputError(
                f"{features.path}: no features for '{missing[0]}' ({len(missing)} training images lack them)"
            )

    def __len__(self) -> int:
        return len(self.frames.frame_pairs)

    @property
    def descriptor_dim(self) -> int:
        return self.features.descriptor_size(self.frames.pairs[0][0])

    def frame_pair(self, index: int) -> tuple[RGBDFrame, RGBDFrame]:
        first, second = self.frames.frame_pairs[index]
        return self.frames.frames[first], self.frames.frames[second]

    def sample(self, index: int, epoch: int) -> TrainingPair:
        """Pair `index` as drawn in `epoch`."""
        frame0, frame1 = self.frame_pair(index)
        features0, features1 = self.features.read(frame0.image), self.features.read(frame1.image)
        matches0, matches1 = keypoint_matches(features0, features1, frame0, frame1, self.conf)
        seed = np.random.SeedSequence([self.conf.seed, epoch, index]).generate_state(1)[0]
        keep0, keep1 = self._subset(matches0, matches1, np.random.default_rng(seed))
        position1 = np.full(len(matches1), -1)
        position1[keep1] = np.arange(len(keep1))
        position0 = np.full(len(matches0), -1)
        position0[keep0] = np.arange(len(keep0))

        def renumber(matches: np.ndarray, position: np.ndarray) -> torch.Tensor:
            partner = np.where(matches >= 0, position[np.maximum(matches, 0)], matches)
            return torch.from_numpy(np.where((matches >= 0) & (partner < 0), UNMATCHED, partner))

        pair = KeypointPair(*_tensors(features0, keep0), *_tensors(features1, keep1))
        return TrainingPair(pair, renumber(matches0[keep0], position1), renumber(matches1[keep1], position0))

    def _subset(self, matches0: np.ndarray, matches1: np.ndarray, rng: np.random.Generator):
        """Keypoints kept in each image, shuffled: a random number of true matches, then others up to the budget."""
        conf = self.conf
        matched = np.flatnonzero(matches0 >= 0)
        count = min(len(matched), int(rng.integers(conf.min_matches, conf.max_matches + 1)))
        chosen = rng.choice(matched, count, replace=False)
        kept = []
        for true, matches in ((chosen, matches0), (matches0[chosen], matches1)):
            others = np.flatnonzero(matches < 0)
            fill = rng.choice(others, min(len(others), max(conf.max_keypoints - len(true), 0)), replace=False)
            kept.append(rng.permutation(np.concatenate([true, fill]).astype(int)))
        return kept


def _tensors(features: Features, keep: np.ndarray) -> tuple[torch.Tensor, ...]:
    """An image's kept keypoints, scores, (N, D) descriptors and size as IMP reads them."""
    return (
        torch.from_numpy(features.keypoints[keep].astype(np.float32)),
        torch.from_numpy(features.scores[keep].astype(np.float32)),
        torch.from_numpy(np.ascontiguousarray(features.descriptors[:, keep].T, np.float32)),
        torch.from_numpy(np.asarray(features.image_size, np.float32)),
    )
