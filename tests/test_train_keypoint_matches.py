"""Ground-truth keypoint matches from depth, and the training samples drawn from them."""

from pathlib import Path

import numpy as np
import pytest
import torch

from vloc.errors import ConfigError, InputError
from vloc.extract import local_features as extract
from vloc.geometry.homography import apply_homography
from vloc.geometry.rigid3d import relative_pose
from vloc.io.features import FeatureReader, Features
from vloc.io.homographies import HomographyPair, write_homographies
from vloc.train.data import SyntheticPairs
from vloc.train.keypoint_matches import (
    LEFT_OUT,
    UNMATCHED,
    DepthMatches,
    HomographyMatches,
    KeypointMatchesConf,
    KeypointMatchPairs,
    ModelMatches,
    keypoint_matches,
)


def epipolar_distances(points0: np.ndarray, points1: np.ndarray, frame0, frame1) -> np.ndarray:
    """Distance in pixels of each point of image 1 to the epipolar line of its partner (COLMAP pixels)."""
    pose = relative_pose(frame0.cam_from_world, frame1.cam_from_world)
    t = pose.translation
    essential = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]]) @ pose.rotation.matrix()
    k0, k1 = frame0.camera.calibration_matrix(), frame1.camera.calibration_matrix()
    fundamental = np.linalg.inv(k1).T @ essential @ np.linalg.inv(k0)
    lines = np.c_[points0, np.ones(len(points0))] @ fundamental.T
    return np.abs((np.c_[points1, np.ones(len(points1))] * lines).sum(1)) / np.linalg.norm(lines[:, :2], axis=1)


def test_true_matches_follow_the_epipolar_geometry_and_the_descriptors(
    keypoint_scene: tuple[SyntheticPairs, Path, Path],
):
    """On day-to-night pairs of the renderer (exact depth and poses): every true match on its epipolar line, one to
    one, and most mutual nearest-neighbour matches of the descriptors among them (measured 0.80 of 1429 labelled)."""
    frame_pairs, path, _ = keypoint_scene
    conf = KeypointMatchesConf()
    correct = labelled = 0
    with FeatureReader(path) as features:
        for index in range(0, len(frame_pairs), 7):
            frame0, frame1 = (frame_pairs.frames[k] for k in frame_pairs.frame_pairs[index])
            features0, features1 = features.read(frame0.image), features.read(frame1.image)
            matches0, matches1 = keypoint_matches(features0, features1, frame0, frame1, conf)
            matched = np.flatnonzero(matches0 >= 0)
            assert len(matched) > 50 and np.array_equal(matches1[matches0[matched]], matched)
            assert (matches1 >= 0).sum() == len(matched) and set(np.unique(matches0)) >= {-1, LEFT_OUT}
            pixels0 = features0.keypoints[matched] + 0.5
            pixels1 = features1.keypoints[matches0[matched]] + 0.5
            assert np.median(epipolar_distances(pixels0, pixels1, frame0, frame1)) < 1.0
            assert epipolar_distances(pixels0, pixels1, frame0, frame1).max() < 2 * conf.inlier_px
            similarity = features0.descriptors.T.astype(np.float32) @ features1.descriptors.astype(np.float32)
            nearest0, nearest1 = similarity.argmax(1), similarity.argmax(0)
            mutual = np.flatnonzero(nearest1[nearest0] == np.arange(len(nearest0)))
            known = mutual[matches0[mutual] != LEFT_OUT]
            correct, labelled = correct + (matches0[known] == nearest0[known]).sum(), labelled + len(known)
    assert correct / labelled > 0.7


def test_samples_keep_a_random_share_of_the_true_matches_within_the_budget(
    keypoint_scene: tuple[SyntheticPairs, Path, Path],
):
    frame_pairs, path, _ = keypoint_scene
    conf = KeypointMatchesConf(max_keypoints=200, min_matches=20, max_matches=60)
    frames = [frame_pairs.frames[k] for k in frame_pairs.frame_pairs[0]]
    with FeatureReader(path) as features:
        pairs = KeypointMatchPairs([DepthMatches(frame_pairs)], features, conf)
        sample, again, other_epoch = pairs.sample(0, epoch=0), pairs.sample(0, epoch=0), pairs.sample(0, epoch=1)
        all_true = (keypoint_matches(*(features.read(f.image) for f in frames), *frames, conf)[0] >= 0).sum()
    matches0, matches1 = sample.matches0, sample.matches1
    assert len(matches0) == len(sample.pair.keypoints0) == len(sample.pair.descriptors0) == 200
    assert sample.pair.descriptors0.shape[1] == 128 and len(matches1) == 200
    true = torch.nonzero(matches0 >= 0)[:, 0]
    assert 20 <= len(true) <= 60 < all_true and torch.equal(matches1[matches0[true]], true)
    assert torch.equal(sample.pair.keypoints0, again.pair.keypoints0)  # seeded by (seed, epoch, index)
    assert not torch.equal(sample.pair.keypoints0, other_epoch.pair.keypoints0)


def test_model_tracks_give_the_matches_the_rendered_depth_gives(synthetic_map: dict[str, Path]):
    """Day images triangulated from their known poses: keypoints observing one 3D point match, one to one, and the
    rendered depth gives nearly every such pair the same partner (a keypoint at the same place); keypoints whose point
    projects where the other image has no keypoint are unmatched, as by the depth (measured: 99.1 % of 1,002 matches
    the depth labels, 100 % of 1,094 unmatched)."""
    conf = KeypointMatchesConf()
    source = ModelMatches(synthetic_map["model"], conf.min_shared_points)
    frames = SyntheticPairs(synthetic_map["scene"])
    by_name = {frame.image: frame for frame in frames.frames}
    agree = matched = agree_unmatched = unmatched = 0
    with FeatureReader(synthetic_map["features"]) as features:
        for index in range(0, len(source.pairs), 5):
            features0, features1 = (features.read(name) for name in source.pairs[index])
            matches0, matches1 = source.matches(index, features0, features1, conf)
            assert [view.image for view in source.views(index)] == list(source.pairs[index])
            partners = np.flatnonzero(matches0 >= 0)
            assert len(partners) >= 20 and np.array_equal(matches1[matches0[partners]], partners)
            depth0, _ = keypoint_matches(features0, features1, *(by_name[n] for n in source.pairs[index]), conf)
            known = partners[depth0[partners] >= 0]
            gap = np.linalg.norm(features1.keypoints[depth0[known]] - features1.keypoints[matches0[known]], axis=1)
            agree, matched = agree + (gap < 0.5).sum(), matched + len(known)  # SIFT repeats a keypoint per orientation
            negatives = np.flatnonzero((matches0 == -1) & (depth0 != LEFT_OUT))
            agree_unmatched, unmatched = agree_unmatched + (depth0[negatives] == -1).sum(), unmatched + len(negatives)
        with pytest.raises(InputError, match="are not its keypoints in the features file"):
            source.matches(0, features1, features0, conf)  # another image's keypoints
    assert matched > 500 and agree / matched > 0.98
    assert unmatched > 500 and agree_unmatched / unmatched > 0.95
    with pytest.raises(InputError, match="no image pair observes 100000 common 3D points"):
        ModelMatches(synthetic_map["model"], 100000)


class NamedPairs:
    """A ground-truth source reduced to its pairs' names, a place: all that negative pairs read."""

    is_place = True

    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = pairs


def test_negative_pairs_join_two_sources_images_and_every_keypoint_is_unmatched(
    keypoint_scene: tuple[SyntheticPairs, Path, Path], tmp_path: Path
):
    frame_pairs, path, _ = keypoint_scene
    names = sorted({name for pair in frame_pairs.pairs for name in pair})
    halves = names[: len(names) // 2], names[len(names) // 2 :]
    sources = [NamedPairs(list(zip(half[:-1], half[1:]))) for half in halves]
    positives = len(names) - 2
    conf = KeypointMatchesConf(negative_pairs=1.5, max_keypoints=200, min_matches=20, max_matches=60)
    with FeatureReader(path) as features:
        pairs = KeypointMatchPairs(sources, features, conf)
        assert len(pairs) == positives + round(1.5 * positives)
        negatives = range(positives, len(pairs))
        drawn = [pairs.images(index, epoch=0) for index in negatives]
        assert all(pairs.views(index) is None for index in negatives)
        assert all({name0 in halves[0], name1 in halves[0]} == {True, False} for name0, name1 in drawn)
        assert drawn == [pairs.images(index, epoch=0) for index in negatives]  # seeded by (seed, epoch, index)
        assert drawn != [pairs.images(index, epoch=1) for index in negatives]  # drawn anew each epoch
        sample = pairs.sample(positives, epoch=0)
        keypoints0 = features.read(drawn[0][0]).keypoints
        single = KeypointMatchPairs(sources[:1], features, conf)
        write_homographies(tmp_path, [HomographyPair(*halves[1][:2], np.eye(3))], {})  # photographs of a place shown
        with_warps = KeypointMatchPairs([sources[0], HomographyMatches(tmp_path)], features, conf)
    assert len(sample.matches0) == len(sample.pair.keypoints0) == min(200, len(keypoints0))
    assert (sample.matches0 == -1).all() and (sample.matches1 == -1).all()
    assert len(single) == len(halves[0]) - 1  # one source: no second place to draw from
    assert len(with_warps) == len(halves[0])  # nor with a homography folder, whose photographs may be another's


def test_homography_pairs_label_every_keypoint_through_the_homography(tmp_path: Path):
    """Keypoints on a jittered 30 px grid; image 1 holds the transfers of the first 150 (moved < 1 px) and 40
    keypoints far from every transfer: partners match, the far ones and those carried outside are unmatched."""
    H = np.array([[1.0, 0.1, 250.0], [-0.1, 1.0, 20.0], [1e-4, 0.0, 1.0]])
    write_homographies(tmp_path, [HomographyPair("a.png", "b.png", H)], {})
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[15:480:30, 15:640:30]
    keypoints0 = np.c_[cols.ravel(), rows.ravel()] + rng.uniform(-5, 5, (rows.size, 2))
    transferred = apply_homography(H, keypoints0)
    inside = np.all((transferred >= 0) & (transferred < (639, 479)), axis=1)
    partnered = np.flatnonzero(inside)[:150]
    candidates = rng.uniform(0, (640, 480), (4000, 2))
    far = candidates[np.linalg.norm(candidates[:, None] - transferred[None], axis=2).min(1) > 25][:40]
    keypoints1 = np.r_[transferred[partnered] + rng.uniform(-0.7, 0.7, (150, 2)), far]

    def features(keypoints: np.ndarray) -> Features:
        return Features(
            keypoints.astype(np.float32), np.zeros((128, len(keypoints))), np.ones(len(keypoints)), [640, 480]
        )

    matches0, matches1 = HomographyMatches(tmp_path).matches(
        0, features(keypoints0), features(keypoints1), KeypointMatchesConf()
    )
    assert np.array_equal(matches0[partnered], np.arange(150)) and np.array_equal(matches1[:150], partnered)
    assert (matches0[~inside] == UNMATCHED).all() and (~inside).sum() > 20
    assert (matches1[150:] == UNMATCHED).all()
    assert HomographyMatches(tmp_path).views(0) is None


def test_bad_settings_and_missing_features_are_one_line_errors(
    keypoint_scene: tuple[SyntheticPairs, Path, Path], tmp_path: Path
):
    frame_pairs, _, _ = keypoint_scene
    names = sorted({name for pair in frame_pairs.pairs for name in pair})
    partial = extract.main(
        extract.conf_by_name("sift"), frame_pairs.image_root, tmp_path / "feats.h5", write_list(tmp_path, names[1:])
    )
    with FeatureReader(partial) as features, pytest.raises(InputError, match=f"no features for '{names[0]}'"):
        KeypointMatchPairs([DepthMatches(frame_pairs)], features)
    with pytest.raises(ConfigError, match="inlier_px <= outlier_px"):
        KeypointMatchesConf(inlier_px=5, outlier_px=3)
    with pytest.raises(ConfigError, match="max_matches <= max_keypoints"):
        KeypointMatchesConf(max_matches=600)
    with pytest.raises(ConfigError, match="negative_pairs >= 0"):
        KeypointMatchesConf(negative_pairs=-1)


def write_list(folder: Path, names: list[str]) -> Path:
    path = folder / "list.txt"
    path.write_text("\n".join(names) + "\n")
    return path
