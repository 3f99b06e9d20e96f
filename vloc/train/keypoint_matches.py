"""Ground-truth matches between the stored keypoints of two images, for training matchers.

RGB-D frames: a keypoint matches the other image's keypoint nearest its reprojection when both reprojections land
within `inlier_px` of each other's keypoint and they are each other's nearest (cycle check); it is unmatched when its
reprojection is visible and no keypoint lies within `outlier_px`, or when it falls outside or behind the other image's
surfaces; left out otherwise. COLMAP models: keypoints observing the same 3D point match; a keypoint whose 3D point
projects outside the other image, or where no keypoint lies within `outlier_px`, is unmatched; others are left out.
Homography pairs (vloc synth-homographies): as RGB-D frames, every keypoint transferred through the homography.
Negative pairs (an image of one source with an image of another): every keypoint is unmatched."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pycolmap
import torch
from scipy.spatial import cKDTree

from vloc.errors import ConfigError, InputError
from vloc.geometry.homography import apply_homography
from vloc.geometry.reprojection import project
from vloc.io.features import FeatureReader, Features
from vloc.io.homographies import read_homographies
from vloc.io.model import read_model
from vloc.models.imp import KeypointPair
from vloc.train.data import RGBDFrame, RGBDPairs, covisible_pairs, depth_agrees, read_depth, reproject
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
    min_shared_points: int = 100  # COLMAP models: image pairs observing at least this many common 3D points
    # Negative pairs, this many per positive pair: an image of one source with an image of another (two places, so
    # every keypoint is unmatched), drawn anew each epoch; they need two sources or more. They teach the dustbin to
    # take every keypoint of a pair that shares nothing, as most query-to-map pairs of exhaustive matching are.
    negative_pairs: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if not 0 < self.inlier_px <= self.outlier_px:
            raise ConfigError("keypoint matches need 0 < inlier_px <= outlier_px")
        if not 1 <= self.min_matches <= self.max_matches <= self.max_keypoints:
            raise ConfigError("keypoint matches need 1 <= min_matches <= max_matches <= max_keypoints")
        if self.negative_pairs < 0:
            raise ConfigError("keypoint matches need negative_pairs >= 0")


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
    transfers = (
        _transfer(features0, frame0, frame1, conf.depth_tolerance),
        _transfer(features1, frame1, frame0, conf.depth_tolerance),
    )
    return _mutual_labels(transfers, features0, features1, conf)


def _mutual_labels(transfers, features0: Features, features1: Features, conf: KeypointMatchesConf):
    """Labels from each image's keypoints transferred into the other ((N, 2) pixels, whether the transfer is known,
    whether it is visible there), image 0's then image 1's: mutual nearest within `inlier_px` match."""
    directions = []
    for (transferred, known, visible), other in zip(transfers, (features1, features0)):
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


@dataclass(frozen=True)
class PosedView:
    """An image of a ground-truth source: its name (in the features file), camera and pose."""

    image: str
    camera: pycolmap.Camera
    cam_from_world: pycolmap.Rigid3d


class MatchSource(Protocol):
    """Image pairs (names in the features file) whose keypoints have ground-truth matches. `is_place`: its images show
    one place that no other source shows, so that an image of it and one of another place make a negative pair."""

    pairs: list[tuple[str, str]]
    is_place: bool

    def views(self, index: int) -> tuple[PosedView | RGBDFrame, PosedView | RGBDFrame] | None: ...

    def matches(
        self, index: int, features0: Features, features1: Features, conf: KeypointMatchesConf
    ) -> tuple[np.ndarray, np.ndarray]: ...


class DepthMatches:
    """The frame pairs of an RGB-D dataset (e.g. a vloc synth scene), ground truth by `keypoint_matches`."""

    is_place = True

    def __init__(self, frames: RGBDPairs):
        self.frames, self.pairs = frames, frames.pairs

    def views(self, index: int) -> tuple[RGBDFrame, RGBDFrame]:
        first, second = self.frames.frame_pairs[index]
        return self.frames.frames[first], self.frames.frames[second]

    def matches(self, index: int, features0: Features, features1: Features, conf: KeypointMatchesConf):
        return keypoint_matches(features0, features1, *self.views(index), conf)


class HomographyMatches:
    """The pairs of a `vloc synth-homographies` folder (names as in its images/): ground truth by transferring every
    keypoint through the homography, as `keypoint_matches` through depth; no relative pose. No place: it warps
    photographs that another source may show."""

    is_place = False

    def __init__(self, root: Path):
        self.homographies = read_homographies(root)
        self.pairs = [(pair.image0, pair.image1) for pair in self.homographies]

    def views(self, index: int) -> None:
        return None

    def matches(self, index: int, features0: Features, features1: Features, conf: KeypointMatchesConf):
        H = self.homographies[index].H
        transfers = []
        for features, homography, other in ((features0, H, features1), (features1, np.linalg.inv(H), features0)):
            transferred = apply_homography(homography, features.keypoints.astype(np.float64))
            width, height = (float(v) for v in other.image_size)
            inside = np.all((transferred >= -0.5) & (transferred < (width - 0.5, height - 0.5)), axis=1)
            transfers.append((transferred, np.ones(len(inside), bool), inside))
        return _mutual_labels(transfers, features0, features1, conf)


class ModelMatches:
    """The image pairs of a COLMAP model that observe at least `min_shared_points` common 3D points; ground truth from
    its tracks. The model must have been made (vloc triangulate or sfm) from the features file trained on: its 2D
    points are then the file's keypoints, in order."""

    is_place = True

    def __init__(self, path: Path, min_shared_points: int):
        model = read_model(path, need_points=True)
        self.path = path
        self.points = {point_id: point.xyz for point_id, point in model.points3D.items()}
        self.views_by_name: dict[str, PosedView] = {}
        self.observations: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # name: (N, 2) COLMAP pixels, (N,) point ids
        for image in model.images.values():
            if image.has_pose:
                camera = model.cameras[image.camera_id]
                self.views_by_name[image.name] = PosedView(image.name, camera, image.cam_from_world())
                self.observations[image.name] = (
                    np.array([p.xy for p in image.points2D], np.float64).reshape(-1, 2),
                    np.array([p.point3D_id if p.has_point3D() else -1 for p in image.points2D], np.int64),
                )
        observed = {name: np.unique(ids[ids >= 0]).astype(np.uint64) for name, (_, ids) in self.observations.items()}
        self.pairs = covisible_pairs(observed, min_shared_points)
        if not self.pairs:
            raise InputError(f"{path}: no image pair observes {min_shared_points} common 3D points")

    def views(self, index: int) -> tuple[PosedView, PosedView]:
        name0, name1 = self.pairs[index]
        return self.views_by_name[name0], self.views_by_name[name1]

    def matches(self, index: int, features0: Features, features1: Features, conf: KeypointMatchesConf):
        name0, name1 = self.pairs[index]
        ids0, ids1 = self._point_ids(name0, features0), self._point_ids(name1, features1)
        matches0 = self._labels(ids0, ids1, self.views_by_name[name1], features1, conf)
        matches1 = self._labels(ids1, ids0, self.views_by_name[name0], features0, conf)
        for matches, other in ((matches0, matches1), (matches1, matches0)):  # one to one, or left out
            partner = np.flatnonzero(matches >= 0)
            matches[partner[other[matches[partner]] != partner]] = LEFT_OUT
        return matches0, matches1

    def _point_ids(self, name: str, features: Features) -> np.ndarray:
        """The 3D point each keypoint observes (-1: none); a one-line error if they are not the model's 2D points."""
        xy, ids = self.observations[name]
        keypoints = features.keypoints.astype(np.float64) + 0.5  # COLMAP pixels
        if xy.shape != keypoints.shape or not np.allclose(xy, keypoints, atol=1e-2):
            raise InputError(
                f"{self.path}: the 2D points of '{name}' are not its keypoints in the features file; train on the "
                "features the model was made from"
            )
        return ids

    def _labels(
        self, ids: np.ndarray, other_ids: np.ndarray, other: PosedView, other_features: Features, conf
    ) -> np.ndarray:
        """Each keypoint's partner in the other image (the keypoint observing its 3D point), UNMATCHED or LEFT_OUT."""
        labels = np.full(len(ids), LEFT_OUT)
        observed = np.flatnonzero(ids >= 0)
        xyz = np.array([self.points[point_id] for point_id in ids[observed]]).reshape(-1, 3)
        pixels, visible = project(other.camera, other.cam_from_world * xyz)
        distance = np.full(len(observed), np.inf)
        if len(other_features.keypoints) and len(observed):
            distance = cKDTree(other_features.keypoints.astype(np.float64) + 0.5).query(pixels)[0]
        labels[observed[~visible | (distance > conf.outlier_px)]] = UNMATCHED
        partner = {point_id: j for j, point_id in enumerate(other_ids) if point_id >= 0}
        for k in observed:
            labels[k] = partner.get(ids[k], labels[k])
        return labels


class KeypointMatchPairs:
    """Training pairs of keypoints: the pairs of one or more ground-truth sources, then `conf.negative_pairs` per
    pair of negatives (images of two sources that are places), the keypoints of a features file holding
    all their images; each sample a random subset (seeded by conf.seed, epoch and index)."""

    def __init__(
        self, sources: list[MatchSource], features: FeatureReader, conf: KeypointMatchesConf = KeypointMatchesConf()
    ):
        self.features, self.conf = features, conf
        self.locations = [(source, k) for source in sources for k in range(len(source.pairs))]  # pair index -> these
        self.images_by_source = [sorted({name for pair in source.pairs for name in pair}) for source in sources]
        self.places = [images for source, images in zip(sources, self.images_by_source) if source.is_place]
        self.num_negatives = round(conf.negative_pairs * len(self.locations)) if len(self.places) > 1 else 0
        missing = sorted({name for images in self.images_by_source for name in images if name not in features})
        if missing:
            raise InputError(
                f"{features.path}: no features for '{missing[0]}' ({len(missing)} training images lack them)"
            )

    def __len__(self) -> int:
        return len(self.locations) + self.num_negatives

    @property
    def descriptor_dim(self) -> int:
        return self.features.descriptor_size(self.images_by_source[0][0])

    def views(self, index: int) -> tuple[PosedView | RGBDFrame, PosedView | RGBDFrame] | None:
        """The two images of pair `index`, with their cameras and poses; None where there is no relative pose (a
        negative pair, a homography pair)."""
        if self.is_negative(index):
            return None
        source, k = self.locations[index]
        return source.views(k)

    def is_negative(self, index: int) -> bool:
        """Whether pair `index` joins two sources' images (nothing matches)."""
        return index >= len(self.locations)

    def images(self, index: int, epoch: int) -> tuple[str, str]:
        """The names of pair `index`'s images; a negative pair's are drawn anew each epoch, one from each of two
        sources."""
        if not self.is_negative(index):
            source, k = self.locations[index]
            return source.pairs[k]
        rng = np.random.default_rng(np.random.SeedSequence([self.conf.seed, epoch, index, 1]))
        first, second = rng.choice(len(self.places), 2, replace=False)
        return str(rng.choice(self.places[first])), str(rng.choice(self.places[second]))

    def sample(self, index: int, epoch: int) -> TrainingPair:
        """Pair `index` as drawn in `epoch`."""
        features0, features1 = (self.features.read(name) for name in self.images(index, epoch))
        if not self.is_negative(index):
            source, k = self.locations[index]
            matches0, matches1 = source.matches(k, features0, features1, self.conf)
        else:
            matches0 = np.full(len(features0.keypoints), UNMATCHED)
            matches1 = np.full(len(features1.keypoints), UNMATCHED)
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
