"""2D-3D correspondences through a model's keypoints, PnP + RANSAC with its uncertainty, and inlier counts."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap

from vloc.errors import ConfigError, FormatError
from vloc.geometry.reprojection import center_std, pose_covariance, reprojection_errors
from vloc.geometry.rigid3d import camera_center
from vloc.io.features import FeatureReader
from vloc.io.matches import MatchReader
from vloc.pnp.map_index import MapIndex

# Focal lengths, in units of the longer image side, that a camera can have (fields of view of 11 to 136 degrees):
# an estimate outside is a failed solve, not a lens.
FOCAL_RANGE = (0.2, 5.0)


@dataclass(frozen=True)
class PnPConf:
    """PnP + RANSAC settings and the tests a pose must pass to count as localized, shared by every localization method.

    The acceptance defaults sit about 5x from the worst correct query of the real datasets (inlier ratio 0.56, position
    std 1.04%) and reject random 2D-3D matches (ratio <= 0.03 on 640x480 images): README, "Localization acceptance".
    """

    ransac_max_error: float = 12.0  # pixels
    min_inliers: int = 12
    min_inlier_ratio: float = 0.1  # PnP inliers / the 2D-3D matches PnP was given (0: no test)
    # 1 sigma of the camera centre (worst direction) / median distance of the inliers (inf: no test)
    max_position_std_relative: float = 0.05
    refine_focal_length: bool = False
    # Queries whose focal length is not known exactly (exif or prior in QUERIES_intrinsics.json, from `vloc cameras`):
    # RANSAC over focal length and pose, then refinement of focal length and distortion with the pose.
    estimate_focal_length: bool = True
    # Above this relative std, the inliers do not determine an estimated focal length: the pose is flagged unreliable
    max_focal_length_std_relative: float = 0.05
    random_seed: int = 0  # RANSAC sampling, for reproducible poses

    def __post_init__(self) -> None:
        if not self.ransac_max_error > 0 or self.min_inliers < 1:
            raise ConfigError("localize: ransac_max_error must be positive and min_inliers at least 1")


@dataclass(frozen=True)
class LocalizeConf(PnPConf):
    """Hierarchical localization: PnP on the best-matched database images of each query."""

    # Localize against the k paired database images with the most 2D-3D matches (0: all of them). Points seen by
    # the images nearest the query agree best with each other when mapping poses drift (e.g. 7-Scenes' KinectFusion).
    num_db_images: int = 3
    covisibility_clustering: bool = False
    fallback_to_top_image: bool = False  # a failed query gets its best-matched (or first paired) image's pose, logged


def correspondences(
    query: str, db_name: str, index: MapIndex, keypoints: np.ndarray, matches: MatchReader
) -> tuple[np.ndarray, np.ndarray]:
    """2D keypoints of the query (COLMAP pixel convention) and the indices (into index.xyz)
    of the 3D points they match."""
    lookup = index.keypoint_points(db_name)
    pairs, _ = matches.read(query, db_name, num_keypoints=(len(keypoints), len(lookup)))
    point_index = lookup[pairs[:, 1]]
    valid = point_index >= 0
    return keypoints[pairs[valid, 0]] + 0.5, point_index[valid]


def position_uncertainty(
    pnp: dict, camera: pycolmap.Camera, points2D: np.ndarray, points3D: np.ndarray, with_focal: bool = False
) -> dict:
    """Standard deviation of a PnP pose's camera centre along its least certain direction, from its inliers among the
    2D-3D matches: in model units, and relative to the median distance of the inlier points (scale-free); None when
    the inliers do not determine the pose. With `with_focal` the focal length is an unknown too (its relative std is
    added). Errors of the map itself are not in it."""
    inliers = np.asarray(pnp["inlier_mask"], bool)
    points2D, points3D, cam_from_world = points2D[inliers], points3D[inliers], pnp["cam_from_world"]
    covariance = pose_covariance(cam_from_world, camera, points2D, points3D, with_focal)
    fields = {"position_std": None, "position_std_relative": None}
    if with_focal:
        focal_std = float(np.sqrt(covariance[6, 6])) / camera.mean_focal_length()
        fields["focal_length_std_relative"] = focal_std if np.isfinite(focal_std) else None
    std = center_std(covariance, cam_from_world)
    if std is None:
        return fields
    distance = float(np.median(np.linalg.norm(points3D - camera_center(cam_from_world), axis=1)))
    return {**fields, "position_std": std, "position_std_relative": std / distance}


def estimate_pose(
    points2D: np.ndarray, points3D: np.ndarray, camera: pycolmap.Camera, conf: PnPConf, estimate_focal: bool = False
) -> dict | None:
    """PnP in RANSAC, then nonlinear refinement on the inliers; None below the inlier threshold. With `estimate_focal`
    the focal length is a RANSAC unknown too, refined with the distortion; "camera" holds the camera the pose is for."""
    if len(points2D) < max(conf.min_inliers, 4):
        return None
    solved = copy.deepcopy(camera)  # pycolmap refines intrinsics in place when asked to
    result = pycolmap.estimate_and_refine_absolute_pose(
        points2D,
        points3D,
        solved,
        estimation_options={
            "ransac": {"max_error": conf.ransac_max_error, "random_seed": conf.random_seed},
            "estimate_focal_length": estimate_focal,
        },
        refinement_options={
            "refine_focal_length": conf.refine_focal_length or estimate_focal,
            "refine_extra_params": estimate_focal,
        },
    )
    if result is None or result["num_inliers"] < conf.min_inliers:
        return None
    result["camera"] = solved
    return result


def acceptance_failure(pnp: dict, conf: PnPConf) -> str | None:
    """The acceptance test a PnP pose (with its inlier ratio and position uncertainty) fails, in words naming the
    setting that relaxes it; None when it passes them all."""
    if pnp["inlier_ratio"] < conf.min_inlier_ratio:
        return f"inlier ratio {pnp['inlier_ratio']:.3f} < {conf.min_inlier_ratio} (min_inlier_ratio)"
    std = pnp["position_std_relative"]
    if std is None and conf.max_position_std_relative < math.inf:
        return "camera centre not determined by the inliers (max_position_std_relative)"
    if std is not None and std > conf.max_position_std_relative:
        return f"relative position std {std:.3g} > {conf.max_position_std_relative} (max_position_std_relative)"
    return None


def checked_pose(
    points2D: np.ndarray, points3D: np.ndarray, camera: pycolmap.Camera, conf: PnPConf, estimate_focal: bool = False
) -> dict | None:
    """PnP (None below min_inliers) with its inlier ratio, the camera centre's uncertainty and, under "rejection",
    the acceptance test it fails (None when the pose is accepted)."""
    result = estimate_pose(points2D, points3D, camera, conf, estimate_focal)
    if result is None:
        return None
    result.update(position_uncertainty(result, result["camera"], points2D, points3D, estimate_focal))
    result["inlier_ratio"] = result["num_inliers"] / len(points2D)
    focal_failure = implausible_focal(result["camera"]) if estimate_focal else None
    result["rejection"] = focal_failure or acceptance_failure(result, conf)
    return result


def implausible_focal(camera: pycolmap.Camera) -> str | None:
    """Why an estimated focal length is no lens's (a failed solve), or None."""
    focal = camera.mean_focal_length() / max(camera.width, camera.height)
    if FOCAL_RANGE[0] <= focal <= FOCAL_RANGE[1]:
        return None
    return f"estimated focal length {focal:.3g} x the longer image side, outside {FOCAL_RANGE[0]} to {FOCAL_RANGE[1]}"


def count_inliers(
    cam_from_world: pycolmap.Rigid3d,
    camera: pycolmap.Camera,
    points2D: np.ndarray,
    points3D: np.ndarray,
    max_error: float,
) -> int:
    """2D-3D matches whose reprojection error is below max_error pixels."""
    return int((reprojection_errors(cam_from_world, camera, points2D, points3D) < max_error).sum())


def check_database_keypoints(index: MapIndex, features: FeatureReader, db_names: set[str], model_path: Path) -> None:
    """Database keypoints come from the model; where the features file has them too (not for sparse-to-dense query
    keypoints), they must be the same extraction."""
    for name in sorted(db_names):
        if name in features and len(index.images[name].points2D) != len(features.keypoints(name)):
            raise FormatError(
                f"{model_path}: image '{name}' has other keypoints than in {features.path} (another extraction?)"
            )


def check_query_features(cameras: dict[str, pycolmap.Camera], features: FeatureReader, queries_path: Path) -> None:
    """One line naming the first query of `queries_path` that has no features, or whose intrinsics are those of an
    image of another size than its features'."""
    for query, camera in cameras.items():
        if query not in features:
            raise FormatError(f"{queries_path}: query '{query}' has no features in {features.path}")
        size = features.image_size(query)
        if size is not None and size != (camera.width, camera.height):
            raise FormatError(
                f"{queries_path}: query '{query}' has intrinsics for a {camera.width}x{camera.height} image, "
                f"but its features in {features.path} are of a {size[0]}x{size[1]} image"
            )
