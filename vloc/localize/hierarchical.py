"""`vloc localize`: the 6-DoF pose of each query from 2D-3D matches against a triangulated model (PnP + RANSAC)."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pycolmap

from vloc.console import quiet_pycolmap, track
from vloc.geometry.reprojection import center_std, fuse_poses, pose_covariance
from vloc.geometry.rigid3d import pose_from_record, pose_record
from vloc.io.features import FeatureReader
from vloc.io.intrinsics import UNCERTAIN_SOURCES, read_intrinsics_sources
from vloc.io.matches import MatchReader
from vloc.io.model import read_model
from vloc.io.text import log_path, read_queries, write_results, write_text_atomic
from vloc.parallel.executor import LOCAL, ExecutorConf, run_in_shards
from vloc.pnp.absolute_pose import (
    LocalizeConf,
    check_database_keypoints,
    check_query_features,
    checked_pose,
    correspondences,
    count_inliers,
)
from vloc.pnp.inputs import LocalizationInputs, check_queries_paired
from vloc.pnp.map_index import MapIndex, database_images_by_query

if TYPE_CHECKING:
    from vloc.featuremetric.query_refiner import QueryRefiner, RefineConf


logger = logging.getLogger(__name__)


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
    refiner: QueryRefiner,
    query: str,
    camera: pycolmap.Camera,
    pnp: dict,
    db_names: list[str],
    matches: tuple[np.ndarray, np.ndarray],
    index: MapIndex,
    conf: LocalizeConf,
) -> tuple[pycolmap.Rigid3d, dict]:
    """Feature-metric refinement of a PnP result fused with it, and its log. The two poses are combined by their
    covariances (the PnP pose's from its inliers' reprojection residuals, the feature-metric one's from its points'
    gradients); the PnP pose is kept where they disagree beyond refiner.conf.max_pose_change_chi2, or where the fused
    pose reprojects fewer 2D-3D inliers (refiner.conf.keep_pnp_inliers)."""
    points2D, point_indices = matches
    points3D = index.xyz[point_indices]
    inliers = np.asarray(pnp["inlier_mask"], bool)
    pnp_pose = pnp["cam_from_world"]
    inlier_points = np.unique(point_indices[inliers])
    refined, refined_covariance, log = refiner.refine(query, camera, pnp_pose, db_names, inlier_points)
    log["num_inliers_before"] = count_inliers(pnp_pose, camera, points2D, points3D, conf.ransac_max_error)
    if not log["accepted"]:  # the refiner kept its starting pose
        log["num_inliers_after"] = log["num_inliers_before"]
        return pnp_pose, log
    covariance = pose_covariance(pnp_pose, camera, points2D[inliers], points3D[inliers])
    fused, fused_covariance, change = fuse_poses(pnp_pose, covariance, refined, refined_covariance)
    log["num_inliers_after"] = count_inliers(fused, camera, points2D, points3D, conf.ransac_max_error)
    log["pose_change_chi2"] = change if np.isfinite(change) else None
    log["position_std_featuremetric"] = center_std(refined_covariance, refined)
    log["position_std_fused"] = center_std(fused_covariance, fused)
    limit = refiner.conf.max_pose_change_chi2
    if change > limit:
        reason = f"the feature-metric and PnP poses disagree (chi2 {change:.3g} > {limit:.3g})"
    elif refiner.conf.keep_pnp_inliers and log["num_inliers_after"] < log["num_inliers_before"]:
        reason = "refinement lost 2D-3D inliers"
    else:
        return fused, log
    log.update(accepted=False, failure_reason=f"{reason}; PnP pose kept")
    return pnp_pose, log


def refinement_outcomes(logs: list[dict]) -> dict[str, int]:
    """How the refinements ended: "fused" with their PnP pose, else the count of each reason the PnP pose was kept,
    its numbers left out ("the feature-metric and PnP poses disagree", "only N model points visible in the query")."""
    outcomes: dict[str, int] = {}
    for log in logs:
        if "refinement" in log:
            reason = log["refinement"].get("failure_reason", "")
            reason = re.sub(r"\b\d+\b", "N", re.sub(r" \(.*?\)|; \w+ pose kept$", "", reason))
            outcome = "fused" if log["refinement"]["accepted"] else reason
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def count_rejected(logs: list[dict], results: Path) -> int:
    """The queries whose pose failed an acceptance test, with a warning line when there are any."""
    rejected = sum(bool(log.get("rejected")) for log in logs)
    if rejected:
        logging.warning(
            "%d of %d queries had their pose rejected by the acceptance tests: see failure_reason in %s",
            rejected,
            len(logs),
            log_path(results),
        )
    return rejected


def count_unreliable(logs: list[dict], results: Path) -> int:
    """The localized queries flagged unreliable (a prior focal length not estimated), with a warning line if any."""
    unreliable = sum(bool(log.get("unreliable")) for log in logs)
    if unreliable:
        logging.warning(
            "%d of %d queries were localized with a prior focal length that was not estimated: their poses are "
            "unreliable (see 'unreliable' in %s)",
            unreliable,
            len(logs),
            log_path(results),
        )
    return unreliable


@dataclass(frozen=True)
class ClusterPose:
    """The PnP result of a group of database images, with the 2D-3D matches it was estimated from."""

    pnp: dict
    db_images: list[str]
    matches: tuple[np.ndarray, np.ndarray]  # query keypoints, indices of 3D points


def best_cluster_pose(
    selections: list[list[str]],
    matches_2d3d: dict[str, tuple[np.ndarray, np.ndarray]],
    index: MapIndex,
    camera: pycolmap.Camera,
    conf: LocalizeConf,
    estimate_focal: bool = False,
) -> tuple[list[str], list[list[str]], ClusterPose | None]:
    """PnP on each selection of database images in turn (on each of its covisibility clusters with
    conf.covisibility_clustering) until one gives an accepted pose: that selection, its clusters, and its pose, the
    accepted one with the most inliers, else the rejected one with the most (None if PnP gave none)."""
    for selected in selections:
        groups = index.clusters(selected) if conf.covisibility_clustering else [selected]
        poses = []
        for group in groups:
            points2D = np.concatenate([matches_2d3d[name][0] for name in group] or [np.zeros((0, 2))])
            point_indices = np.concatenate([matches_2d3d[name][1] for name in group] or [np.zeros(0, np.int64)])
            result = checked_pose(points2D, index.xyz[point_indices], camera, conf, estimate_focal)
            if result is not None:
                poses.append(ClusterPose(result, group, (points2D, point_indices)))
        best = max(poses, key=lambda pose: (pose.pnp["rejection"] is None, pose.pnp["num_inliers"]), default=None)
        if best is not None and best.pnp["rejection"] is None:
            break
    return selected, groups, best


def localized_query(
    best: ClusterPose,
    query: str,
    camera: pycolmap.Camera,
    index: MapIndex,
    conf: LocalizeConf,
    refiner: QueryRefiner | None,
) -> tuple[pycolmap.Rigid3d, dict]:
    """The pose of the best cluster (refined feature-metrically with `refiner`) and its log fields."""
    fields = {
        "num_inliers": int(best.pnp["num_inliers"]),
        "db_images_used": best.db_images,
        **pose_measures(best.pnp),
    }
    if refiner is None:
        return best.pnp["cam_from_world"], fields
    pose, fields["refinement"] = refine_pnp_pose(
        refiner, query, camera, best.pnp, best.db_images, best.matches, index, conf
    )
    return pose, fields


def pose_measures(pnp: dict) -> dict:
    """What the acceptance tests look at, for the log: inlier ratio and the camera centre's uncertainty."""
    return {key: pnp[key] for key in ("inlier_ratio", "position_std", "position_std_relative")}


def intrinsics_fields(source: str, prior: pycolmap.Camera, pnp: dict, estimated: bool, conf: LocalizeConf) -> dict:
    """Log fields of a query whose intrinsics were not given: where they came from, the focal length before and after
    PnP, and why the pose is unreliable when its focal length is a prior not estimated, or not determined."""
    solved = pnp["camera"]
    fields = {
        "intrinsics": {
            "source": "estimated" if estimated else source,
            "initial_source": source,
            "initial_focal_length": prior.mean_focal_length(),
            "focal_length": solved.mean_focal_length(),
            "params": [float(p) for p in solved.params],
        }
    }
    focal_std = pnp.get("focal_length_std_relative")
    if source == "prior" and not estimated:
        fields["unreliable"] = "the focal length is a prior from the image size, not estimated (estimate_focal_length)"
    elif estimated and (focal_std is None or focal_std > conf.max_focal_length_std_relative):
        fields["intrinsics"]["focal_length_std_relative"] = focal_std
        std = "undetermined" if focal_std is None else f"{focal_std:.3g}"
        fields["unreliable"] = (
            f"the inliers do not determine the focal length: relative std {std} > "
            f"{conf.max_focal_length_std_relative} (max_focal_length_std_relative)"
        )
    else:
        fields["intrinsics"]["focal_length_std_relative"] = focal_std
    return fields


def failed_query(
    num_matches: int, ranked: list[str], index: MapIndex, conf: LocalizeConf, rejected: ClusterPose | None
) -> tuple[pycolmap.Rigid3d | None, dict]:
    """The log fields of a query PnP could not localize (or whose pose, `rejected`, failed an acceptance test), and
    the pose of its best-matched database image when conf.fallback_to_top_image asks for one (None otherwise).
    `ranked`: the images by number of matches, else (none matched) the first image the query's pairs list."""
    if rejected is not None:
        fields = {
            "failure_reason": rejected.pnp["rejection"],
            "rejected": True,
            "num_inliers": int(rejected.pnp["num_inliers"]),
            **pose_measures(rejected.pnp),
        }
    elif num_matches < conf.min_inliers:
        fields = {"failure_reason": f"only {num_matches} 2D-3D matches"}
    else:
        fields = {"failure_reason": f"fewer than {conf.min_inliers} PnP inliers"}
    if not (conf.fallback_to_top_image and ranked):
        return None, fields
    fields.update(fallback=True, fallback_image=ranked[0])
    return index.images[ranked[0]].cam_from_world(), fields


def localize_query(
    query: str,
    camera: pycolmap.Camera,
    db_names: list[str],
    index: MapIndex,
    features: FeatureReader,
    matches: MatchReader,
    conf: LocalizeConf,
    refiner: QueryRefiner | None = None,
    intrinsics_source: str = "given",
) -> tuple[pycolmap.Rigid3d | None, dict]:
    """Pose of one query and its log entry (`db_names` in the order its pairs list them); the focal length of a camera
    whose intrinsics are not given is estimated (conf.estimate_focal_length), and where it is only a prior and not
    estimated, the pose is flagged unreliable."""
    start = time.perf_counter()
    listed_first, db_names = db_names[:1], sorted(db_names)
    keypoints = features.keypoints(query)
    per_image = {name: correspondences(query, name, index, keypoints, matches) for name in db_names}
    counts = {name: len(points2D) for name, (points2D, _) in per_image.items()}
    ranked = [name for name in sorted(db_names, key=lambda name: (-counts[name], name)) if counts[name] > 0]
    # The k best-matched images first; every matched image only if they give no pose.
    attempts = [ranked[: conf.num_db_images]] if 0 < conf.num_db_images < len(ranked) else []
    estimate_focal = conf.estimate_focal_length and intrinsics_source in UNCERTAIN_SOURCES
    selected, groups, best = best_cluster_pose(attempts + [ranked], per_image, index, camera, conf, estimate_focal)
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
        "success": best is not None and best.pnp["rejection"] is None,
        "fallback": False,
    }
    if log["success"]:
        pose, fields = localized_query(best, query, best.pnp["camera"], index, conf, refiner)
        if intrinsics_source != "given":
            fields.update(intrinsics_fields(intrinsics_source, camera, best.pnp, estimate_focal, conf))
    else:
        # None matched: the first image of its pairs is the best evidence left (retrieval's top one).
        pose, fields = failed_query(total, ranked or listed_first, index, conf, best)
    log.update(fields)
    if pose is not None:
        log["cam_from_world"] = pose_record(pose)
    log["time_s"] = time.perf_counter() - start
    return pose, log


class Localizer:
    """Everything that localizing a query reads, loaded once: the queries' cameras, the map and its index, the pairs,
    the features and matches files, and the refiner; called with a query's name, its pose and log entry."""

    def __init__(
        self,
        conf: LocalizeConf,
        inputs: LocalizationInputs,
        refine: RefineConf | None = None,
        dense_path: Path | None = None,
        image_root: Path | None = None,
    ):
        quiet_pycolmap()
        self.conf, self.inputs = conf, inputs
        self.cameras = read_queries(inputs.queries, required=True)
        self.sources = read_intrinsics_sources(inputs.queries)
        model = read_model(inputs.model, need_points=True)
        self.index = MapIndex(model)
        self.db_by_query = database_images_by_query(inputs.pairs, self.index, inputs.model)
        self.files = contextlib.ExitStack()
        self.features = self.files.enter_context(FeatureReader(inputs.features))
        self.matches = self.files.enter_context(MatchReader(inputs.matches))
        self.refiner = None
        if refine is not None:
            from vloc.featuremetric.query_refiner import QueryRefiner  # torch: loaded only to refine

            self.refiner = self.files.enter_context(QueryRefiner(refine, self.index, image_root, dense_path))

    def check_inputs(self) -> None:
        """One-line errors for queries without features or pairs, and database images without keypoints."""
        check_query_features(self.cameras, self.features, self.inputs.queries)
        check_queries_paired(self.cameras, self.db_by_query, self.inputs.pairs, self.inputs.queries)
        db_names = {name for names in self.db_by_query.values() for name in names}
        check_database_keypoints(self.index, self.features, db_names, self.inputs.model)

    def __call__(self, query: str) -> tuple[pycolmap.Rigid3d | None, dict]:
        return localize_query(
            query,
            self.cameras[query],
            self.db_by_query.get(query, []),
            self.index,
            self.features,
            self.matches,
            self.conf,
            self.refiner,
            self.sources.get(query, "given"),
        )

    def close(self) -> None:
        self.files.close()


def shard_worker(
    stamp: str,
    conf: LocalizeConf,
    inputs: LocalizationInputs,
    refine: RefineConf | None,
    dense_path: Path | None,
    image_root: Path | None,
) -> Callable[[list[str], Path], None]:
    """In a Ray worker: the map and files loaded once, and a function writing the log entries of a shard's queries to a
    JSON file of its own, stamped with the run's settings."""
    localizer = Localizer(conf, inputs, refine, dense_path, image_root)

    def localize_shard(queries: list[str], path: Path) -> None:
        logs = [localizer(query)[1] for query in queries]
        write_text_atomic(path, json.dumps({"settings": stamp, "queries": logs}))

    return localize_shard


def settings_stamp(
    conf: LocalizeConf,
    inputs: LocalizationInputs,
    refine: RefineConf | None,
    dense_path: Path | None,
    image_root: Path | None,
) -> str:
    """What a shard's log entries depend on (settings, input paths and their modification times): a shard of a
    stopped run is reused only under the same stamp."""
    files = {name: [str(path), path.stat().st_mtime_ns] for name, path in asdict(inputs).items()}
    settings = [asdict(conf), files, refine and asdict(refine), dense_path, image_root]
    return json.dumps(settings, default=str)


def localize_in_shards(
    results: Path,
    queries: list[str],
    make_worker: Callable[[], Callable],
    stamp: str,
    write: Callable[[list[dict]], None],
    executor: ExecutorConf,
) -> None:
    """Localize `queries` in shards on Ray workers, taking the finished shards of a stopped run with the same settings,
    and `write` the log entries of all, in the order of `queries`, before the shards are removed."""

    def shard_logs(path: Path) -> list[dict]:
        shard = json.loads(path.read_text())
        if shard["settings"] == stamp:
            return shard["queries"]
        logger.warning("removing %s, a shard localized with other settings", path)
        path.unlink()
        return []

    def pending(finished: list[Path]) -> list[str]:
        done = {log["name"] for path in finished for log in shard_logs(path)}
        return [query for query in queries if query not in done]

    def merge(finished: list[Path]) -> None:
        logs = {log["name"]: log for path in finished for log in shard_logs(path)}
        write([logs[query] for query in queries])

    run_in_shards(results, pending, make_worker, merge, executor, "localize", suffix=".json")


def main(
    conf: LocalizeConf,
    inputs: LocalizationInputs,
    results: Path,
    *,
    refine: RefineConf | None = None,
    dense_path: Path | None = None,
    image_root: Path | None = None,
    executor: ExecutorConf = LOCAL,
) -> Path:
    """Localize every query of `inputs.queries` against its pairs; writes `results` and `<results>_log.json`.

    With `refine`, each PnP pose is refined feature-metrically (dense features from `dense_path` or computed
    from the images below `image_root`), inliers are recounted, and both costs are logged. With a Ray `executor`, the
    queries are localized in shards by Ray workers.
    """
    localizer = Localizer(conf, inputs, refine, dense_path, image_root)
    with contextlib.closing(localizer):
        localizer.check_inputs()
        queries, sources = sorted(localizer.cameras), localizer.sources
        if not executor.is_ray:
            _, logs = localize_all(queries, "localize", localizer)

    def write(logs: list[dict]) -> None:
        summary = {
            "conf": asdict(conf),
            "num_queries": len(queries),
            "num_localized": sum(l["success"] for l in logs),
            "num_rejected": count_rejected(logs, results),
        }
        if sources:
            summary["num_unreliable"] = count_unreliable(logs, results)
        if refine is not None:
            summary["refine_conf"] = asdict(refine)
            summary["refinement"] = refinement_outcomes(logs)
        poses = {log["name"]: pose_from_record(log["cam_from_world"]) for log in logs if "cam_from_world" in log}
        write_results(results, poses, summary, logs)

    if executor.is_ray:  # the workers load their own localizer
        stamp = settings_stamp(conf, inputs, refine, dense_path, image_root)
        worker = partial(shard_worker, stamp, conf, inputs, refine, dense_path, image_root)
        localize_in_shards(results, queries, worker, stamp, write, executor)
    else:
        write(logs)
    return results
