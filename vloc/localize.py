"""`vloc localize`: the 6-DoF pose of each query from 2D-3D matches against a triangulated model (PnP + RANSAC)."""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pycolmap

from .errors import FormatError
from .io.features import FeatureReader
from .io.matches import MatchReader
from .io.model import read_model
from .geometry.pose import camera_center, camera_center_covariance, pose_record, reprojection_errors
from .io.text import read_queries, write_results
from .map_index import MapIndex, database_images_by_query
from .refine.run import QueryRefiner, RefineConf
from .utils import quiet_pycolmap, track


@dataclass(frozen=True)
class LocalizeConf:
    ransac_max_error: float = 12.0  # pixels
    min_inliers: int = 12
    # Localize against the k paired database images with the most 2D-3D matches (0: all of them). Points seen by
    # the images nearest the query agree best with each other when mapping poses drift (e.g. 7-Scenes' KinectFusion).
    num_db_images: int = 3
    covisibility_clustering: bool = False
    fallback_to_top_image: bool = False  # give a failed query the pose of its best-matched image (recorded)
    refine_focal_length: bool = False
    random_seed: int = 0  # RANSAC sampling, for reproducible poses


def correspondences(
    query: str, db_name: str, index: MapIndex, keypoints: np.ndarray, matches: MatchReader
) -> tuple[np.ndarray, np.ndarray]:
    """2D keypoints of the query (COLMAP pixel convention) and the indices (into index.xyz) of the 3D points they match."""
    pairs, _ = matches.read(query, db_name)
    lookup = index.keypoint_points(db_name)
    if len(pairs) and (pairs[:, 0].max() >= len(keypoints) or pairs[:, 1].max() >= len(lookup)):
        raise FormatError(f"{matches.path}: matches of ({query}, {db_name}) index keypoints absent from the features or model")
    point_index = lookup[pairs[:, 1]]
    valid = point_index >= 0
    return keypoints[pairs[valid, 0]] + 0.5, point_index[valid]


def position_uncertainty(pnp: dict, camera: pycolmap.Camera, points2D: np.ndarray, points3D: np.ndarray) -> dict:
    """Standard deviation of a PnP pose's camera centre along its least certain direction, from its inliers among the
    2D-3D matches: in model units, and relative to the median distance of the inlier points (scale-free); None when
    the inliers do not determine the pose. Errors of the map itself are not in it."""
    inliers = np.asarray(pnp["inlier_mask"], bool)
    points2D, points3D, cam_from_world = points2D[inliers], points3D[inliers], pnp["cam_from_world"]
    covariance = camera_center_covariance(cam_from_world, camera, points2D, points3D)
    if not np.isfinite(covariance).all():
        return {"position_std": None, "position_std_relative": None}
    std = float(np.sqrt(np.linalg.eigvalsh(covariance)[-1]))
    distance = float(np.median(np.linalg.norm(points3D - camera_center(cam_from_world), axis=1)))
    return {"position_std": std, "position_std_relative": std / distance}


def estimate_pose(points2D: np.ndarray, points3D: np.ndarray, camera: pycolmap.Camera, conf: LocalizeConf) -> dict | None:
    """PnP in RANSAC, then nonlinear refinement on the inliers; None below the inlier threshold."""
    if len(points2D) < max(conf.min_inliers, 4):
        return None
    result = pycolmap.estimate_and_refine_absolute_pose(
        points2D,
        points3D,
        copy.deepcopy(camera),  # pycolmap refines intrinsics in place when asked to
        estimation_options={"ransac": {"max_error": conf.ransac_max_error, "random_seed": conf.random_seed}},
        refinement_options={"refine_focal_length": conf.refine_focal_length},
    )
    if result is None or result["num_inliers"] < conf.min_inliers:
        return None
    return result


def count_inliers(cam_from_world: pycolmap.Rigid3d, camera: pycolmap.Camera, points2D: np.ndarray, points3D: np.ndarray, max_error: float) -> int:
    """2D-3D matches whose reprojection error is below max_error pixels."""
    return int((reprojection_errors(cam_from_world, camera, points2D, points3D) < max_error).sum())


def check_database_keypoints(index: MapIndex, features: FeatureReader, db_names: set[str], model_path: Path) -> None:
    """Database keypoints come from the model; where the features file has them too (not for sparse-to-dense query
    keypoints), they must be the same extraction."""
    for name in sorted(db_names):
        if name in features and len(index.images[name].points2D) != len(features.keypoints(name)):
            raise FormatError(f"{model_path}: image '{name}' has other keypoints than in {features.path} (another extraction?)")


def check_query_features(queries: Iterable[str], features: FeatureReader, queries_path: Path) -> None:
    """One line naming the first query of `queries_path` that has no features."""
    for query in queries:
        if query not in features:
            raise FormatError(f"{queries_path}: query '{query}' has no features in {features.path}")


def localize_all(
    queries: list[str], description: str, localize_one: Callable[[str], tuple[pycolmap.Rigid3d | None, dict]]
) -> tuple[dict[str, pycolmap.Rigid3d], list[dict]]:
    """Localize the queries one by one under a progress bar: the poses found, and every query's log entry."""
    poses, logs = {}, []
    for query in track(queries, description, len(queries)):
        pose, log = localize_one(query)
        logs.append(log)
        if pose is not None:
            poses[query] = pose
    return poses, logs


def refine_pnp_pose(
    refiner: QueryRefiner, query: str, camera: pycolmap.Camera, pnp: dict, db_names: list[str],
    matches: tuple[np.ndarray, np.ndarray], index: MapIndex, conf: LocalizeConf,
) -> tuple[pycolmap.Rigid3d, dict]:
    """Feature-metric refinement of a PnP result and its log, with the 2D-3D inliers counted before and after;
    the PnP pose is kept if the refined one has fewer (refiner.conf.keep_pnp_inliers)."""
    points2D, point_indices = matches
    points3D = index.xyz[point_indices]
    inlier_points = np.unique(point_indices[np.asarray(pnp["inlier_mask"], bool)])
    refined, log = refiner.refine(query, camera, pnp["cam_from_world"], db_names, inlier_points)
    log["num_inliers_before"] = count_inliers(pnp["cam_from_world"], camera, points2D, points3D, conf.ransac_max_error)
    log["num_inliers_after"] = count_inliers(refined, camera, points2D, points3D, conf.ransac_max_error)
    if log["accepted"] and refiner.conf.keep_pnp_inliers and log["num_inliers_after"] < log["num_inliers_before"]:
        log.update(accepted=False, failure_reason="refinement lost 2D-3D inliers; PnP pose kept")
        return pnp["cam_from_world"], log
    return refined, log


def localize_query(
    query: str, camera: pycolmap.Camera, db_names: list[str], index: MapIndex, features: FeatureReader,
    matches: MatchReader, conf: LocalizeConf, refiner: QueryRefiner | None = None,
) -> tuple[pycolmap.Rigid3d | None, dict]:
    """Pose of one query and its log entry."""
    start = time.perf_counter()
    keypoints = features.keypoints(query)
    per_image = {name: correspondences(query, name, index, keypoints, matches) for name in db_names}
    counts = {name: len(points2D) for name, (points2D, _) in per_image.items()}
    ranked = [name for name in sorted(db_names, key=lambda name: (-counts[name], name)) if counts[name] > 0]
    # The k best-matched images first; every matched image only if they give no pose.
    attempts = [ranked[: conf.num_db_images]] if 0 < conf.num_db_images < len(ranked) else []
    best, best_group = None, None
    for selected in attempts + [ranked]:
        groups = index.clusters(selected) if conf.covisibility_clustering else [selected]
        for group in groups:
            points2D = np.concatenate([per_image[name][0] for name in group] or [np.zeros((0, 2))])
            point_indices = np.concatenate([per_image[name][1] for name in group] or [np.zeros(0, np.int64)])
            result = estimate_pose(points2D, index.xyz[point_indices], camera, conf)
            if result is not None and (best is None or result["num_inliers"] > best["num_inliers"]):
                best, best_group, best_matches = result, group, (points2D, point_indices)
        if best is not None:
            break
    total = sum(counts[name] for name in selected)
    log = {
        "name": query,
        "db_images": db_names,
        "matches_2d3d_per_db_image": counts,
        "db_images_selected": selected,
        "widened_to_all_db_images": bool(attempts) and selected is ranked,
        "num_matches_2d3d": total,
        "ransac_max_error": conf.ransac_max_error,
        "num_clusters": len(groups),
        "success": best is not None,
        "fallback": False,
    }
    pose = None
    if best is not None:
        pose = best["cam_from_world"]
        matched_points2D, matched_indices = best_matches
        log.update(num_inliers=int(best["num_inliers"]), db_images_used=best_group,
                   **position_uncertainty(best, camera, matched_points2D, index.xyz[matched_indices]))
        if refiner is not None:
            pose, log["refinement"] = refine_pnp_pose(refiner, query, camera, best, best_group, best_matches, index, conf)
    else:
        log["failure_reason"] = (
            f"fewer than {conf.min_inliers} PnP inliers" if total >= conf.min_inliers else f"only {total} 2D-3D matches"
        )
        if conf.fallback_to_top_image and ranked:
            pose, log["fallback"], log["fallback_image"] = index.images[ranked[0]].cam_from_world(), True, ranked[0]
    if pose is not None:
        log["cam_from_world"] = pose_record(pose)
    log["time_s"] = time.perf_counter() - start
    return pose, log


def main(
    conf: LocalizeConf,
    model_path: Path,
    queries_path: Path,
    pairs_path: Path,
    features: Path,
    matches: Path,
    results: Path,
    refine: RefineConf | None = None,
    dense_path: Path | None = None,
    image_root: Path | None = None,
) -> Path:
    """Localize every query of `queries_path` against its pairs; writes `results` and `<results>_log.json`.

    With `refine`, each PnP pose is refined feature-metrically (dense features from `dense_path` or computed
    from the images below `image_root`), inliers are recounted, and both costs are logged.
    """
    quiet_pycolmap()
    cameras = read_queries(queries_path)
    model = read_model(model_path, need_points=True)
    index = MapIndex(model)
    db_by_query = database_images_by_query(pairs_path, index, model_path)
    refining = QueryRefiner(refine, index, image_root, dense_path) if refine is not None else contextlib.nullcontext()
    with FeatureReader(features) as feature_reader, MatchReader(matches) as match_reader, refining as refiner:
        check_query_features(cameras, feature_reader, queries_path)
        check_database_keypoints(index, feature_reader, {n for names in db_by_query.values() for n in names}, model_path)
        poses, logs = localize_all(sorted(cameras), "localize", lambda query: localize_query(
            query, cameras[query], sorted(db_by_query.get(query, [])), index, feature_reader, match_reader, conf, refiner
        ))
    summary = {"conf": asdict(conf), "num_queries": len(cameras), "num_localized": sum(l["success"] for l in logs)}
    if refine is not None:
        summary["refine_conf"] = asdict(refine)
    return write_results(results, poses, summary, logs)
