"""Filling a COLMAP database from vloc's features and matches, for pycolmap's triangulator and mapper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pycolmap

from vloc.console import track
from vloc.errors import FormatError
from vloc.geometry.epipolar import epipolar_distances_each, essential_from_poses
from vloc.io.features import FeatureReader
from vloc.io.matches import MatchReader


def write_reference_images(database: pycolmap.Database, model: pycolmap.Reconstruction) -> dict[str, int]:
    """Copy cameras and images of `model` into the database with the same ids; returns image ids by name."""
    for camera in model.cameras.values():
        database.write_camera(camera, use_camera_id=True)
    for image in model.images.values():
        database.write_image(
            pycolmap.Image(name=image.name, camera_id=image.camera_id, image_id=image.image_id), use_image_id=True
        )
    return {image.name: image.image_id for image in model.images.values()}


def write_new_images(database: pycolmap.Database, features: FeatureReader, names: list[str]) -> dict[str, int]:
    """One SIMPLE_RADIAL camera per image with a focal prior of 1.2 x the larger side (as COLMAP without EXIF)."""
    image_ids = {}
    for name in names:
        width, height = features.required_image_size(name)
        camera = pycolmap.Camera.create_from_model_name(0, "SIMPLE_RADIAL", 1.2 * max(width, height), width, height)
        camera_id = database.write_camera(camera)
        image_ids[name] = database.write_image(pycolmap.Image(name=name, camera_id=camera_id))
    return image_ids


def write_keypoints(database: pycolmap.Database, features: FeatureReader, image_ids: dict[str, int]) -> None:
    """Keypoints in COLMAP's convention (pixel centres at +0.5)."""
    for name, image_id in image_ids.items():
        database.write_keypoints(image_id, features.keypoints(name) + 0.5)


def known_pose_inliers(
    model: pycolmap.Reconstruction, name0: str, name1: str, points0: np.ndarray, points1: np.ndarray, max_error: float
) -> np.ndarray:
    """Matches whose epipolar distance under the known relative pose is below `max_error` pixels in both images."""
    image0, image1 = model.find_image_with_name(name0), model.find_image_with_name(name1)
    camera0, camera1 = model.cameras[image0.camera_id], model.cameras[image1.camera_id]
    essential = essential_from_poses(image0.cam_from_world(), image1.cam_from_world())
    # Normalised coordinates undo any lens distortion; distances are scaled back to pixels by each focal length.
    distance0, distance1 = epipolar_distances_each(
        camera0.cam_from_img(points0 + 0.5), camera1.cam_from_img(points1 + 0.5), essential
    )
    return (distance0 * camera0.mean_focal_length() <= max_error) & (
        distance1 * camera1.mean_focal_length() <= max_error
    )


def matched_keypoints(
    features: FeatureReader, matches: MatchReader, name0: str, name1: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match indices of a pair and the keypoints they join; fails if the indices do not fit the features."""
    keypoints0, keypoints1 = features.keypoints(name0), features.keypoints(name1)
    indices, _ = matches.read(name0, name1, num_keypoints=(len(keypoints0), len(keypoints1)))
    return indices, keypoints0[indices[:, 0]], keypoints1[indices[:, 1]]


def unique_pairs(pairs: list[tuple[str, str]], image_ids: dict[str, int]) -> list[tuple[str, str]]:
    """Pairs with each unordered pair of distinct images once."""
    seen, kept = set(), []
    for name0, name1 in pairs:
        key = tuple(sorted((image_ids[name0], image_ids[name1])))
        if key[0] != key[1] and key not in seen:
            seen.add(key)
            kept.append((name0, name1))
    return kept


def write_raw_matches(
    database: pycolmap.Database,
    pairs: list[tuple[str, str]],
    image_ids: dict[str, int],
    features: FeatureReader,
    matches: MatchReader,
) -> None:
    """Matches of every pair, for pycolmap to verify."""
    for name0, name1 in track(unique_pairs(pairs, image_ids), "import matches"):
        indices, _, _ = matched_keypoints(features, matches, name0, name1)
        database.write_matches(image_ids[name0], image_ids[name1], indices.astype(np.uint32))


def write_pose_verified_matches(
    database: pycolmap.Database,
    pairs: list[tuple[str, str]],
    image_ids: dict[str, int],
    features: FeatureReader,
    matches: MatchReader,
    model: pycolmap.Reconstruction,
    max_error: float,
) -> int:
    """Matches of every pair and, as two-view geometries, those that agree with the model's poses;
    returns their number."""
    verified = 0
    for name0, name1 in track(unique_pairs(pairs, image_ids), "verify matches"):
        indices, points0, points1 = matched_keypoints(features, matches, name0, name1)
        database.write_matches(image_ids[name0], image_ids[name1], indices.astype(np.uint32))
        inliers = known_pose_inliers(model, name0, name1, points0, points1, max_error)
        geometry = pycolmap.TwoViewGeometry()
        geometry.config = pycolmap.TwoViewGeometryConfiguration.CALIBRATED  # UNDEFINED would be ignored
        geometry.inlier_matches = indices[inliers].astype(np.uint32)
        database.write_two_view_geometry(image_ids[name0], image_ids[name1], geometry)
        verified += int(inliers.sum())
    return verified


def check_pairs_known(pairs: list[tuple[str, str]], known: set[str], pairs_path: Path, what: str) -> None:
    """Fail naming the first pair image absent from the model or the features."""
    for pair in pairs:
        for name in pair:
            if name not in known:
                raise FormatError(f"{pairs_path}: pair ({pair[0]}, {pair[1]}) names image '{name}' absent from {what}")
