"""`vloc localize --method lbr`: localization by global instance recognition (LBR) with early exit.

Candidate groups (vloc pairs instances) are tried in order: their pairs are matched only when reached, PnP runs
on each group's 2D-3D matches, and the first group whose pose has `accept_inliers` inliers and a well-determined
camera centre ends the search.
The pose is then refined on co-visible database images: their 3D points, projected with the current pose, are
matched to query keypoints within a radius, and PnP runs again with a tighter threshold.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pycolmap
import torch
from scipy.spatial import cKDTree

from vloc.config import to_json
from vloc.console import quiet_pycolmap
from vloc.errors import ConfigError, FormatError
from vloc.geometry.camera import Camera
from vloc.geometry.pose import Pose
from vloc.geometry.rigid3d import pose_record
from vloc.io.features import FeatureReader
from vloc.io.groups import CandidateGroup, groups_path, read_groups
from vloc.io.h5 import atomic_writer, stamp_config
from vloc.io.instances import KeypointLabels
from vloc.io.intrinsics import UNCERTAIN_SOURCES, read_intrinsics_sources, sources_path
from vloc.io.matches import MatchReader, check_pair_keys, write_matches
from vloc.io.model import read_model
from vloc.io.text import read_queries, write_results
from vloc.localize.hierarchical import count_rejected, localize_all
from vloc.matchers.pair_matcher import MatchConf, PairMatcher, check_descriptors
from vloc.pnp.absolute_pose import (
    PnPConf,
    check_database_keypoints,
    check_query_features,
    checked_pose,
    correspondences,
    count_inliers,
    estimate_pose,
)
from vloc.pnp.covisibility import most_covisible, observation_counts
from vloc.pnp.inputs import LocalizationInputs, check_queries_paired
from vloc.pnp.map_index import MapIndex


@dataclass(frozen=True)
class LbrConf(PnPConf):
    """PnP settings, when a candidate group ends the search, and the co-visibility refinement."""

    accept_inliers: int = 100  # a group whose pose has this many inliers ends the search ...
    # ... if its camera centre is also determined to this fraction of the distance to its inliers (1 sigma, worst
    # direction): many inliers from a narrow part of the view can still leave the position ambiguous.
    accept_max_position_std: float = 0.005
    num_pooled: int = 3  # when no group is accepted: the images with the most 2D-3D matches, localized together
    # LBR's last step. Off by default: it did not raise recall on the synthetic street, and on 7-Scenes (drifting
    # mapping poses) points of more images lower the recall at 2 cm (23.1% -> 18.5% on the hard split).
    covisibility_refinement: bool = False
    num_covisible: int = 10  # database images sharing the most 3D points with the accepted group
    search_radius: float = 8.0  # pixels around each projected 3D point
    min_similarity: float = 0.8  # cosine of the descriptors of a query keypoint and a 3D point's observation
    refine_ransac_max_error: float = 6.0
    refine_iterations: int = 2


class MatchStore:
    """Matches of (query, database) pairs: read from the open matches file, or matched on demand and added to it."""

    def __init__(self, matcher: PairMatcher, handle, path: Path):
        self.matcher, self.handle = matcher, handle
        self.reader = MatchReader(path, handle)

    def get(self, query: str, db_names: list[str]) -> int:
        """Make sure every pair is in the file; returns how many had to be matched now."""
        todo = [n for n in db_names if (query, n) not in self.reader]
        if todo:
            for name, matched in zip(todo, self.matcher(query, todo)):
                write_matches(self.handle, query, name, *matched)
        return len(todo)


class CovisibilityRefiner:
    """Guided matching of query keypoints to the 3D points of database images co-visible with the accepted ones."""

    def __init__(self, conf: LbrConf, model: pycolmap.Reconstruction, index: MapIndex, features: FeatureReader):
        self.conf, self.model, self.index, self.features = conf, model, index, features
        self.image_ids = {image.name: image.image_id for image in model.images.values()}
        self.unit_descriptors = functools.lru_cache(maxsize=256)(self._unit_descriptors)

    def _unit_descriptors(self, name: str) -> torch.Tensor:
        """L2-normalised (D, N) descriptors of a database image (cached for the 256 most recent)."""
        return torch.nn.functional.normalize(torch.from_numpy(self.features.read(name).descriptors).float(), dim=0)

    def covisible(self, names: list[str]) -> list[str]:
        """The database images sharing the most 3D points with `names`, most first."""
        point_ids = [int(i) for name in names for i in self.index.sorted_point_ids[self.index.observed_points(name)]]
        ranked = most_covisible(observation_counts(self.model, point_ids), {self.image_ids[n] for n in names})
        return [self.model.images[image_id].name for image_id in ranked][: self.conf.num_covisible]

    def map_points(self, names: list[str]) -> tuple[np.ndarray, torch.Tensor]:
        """Indices into index.xyz of the 3D points seen by `names`,
        each with the descriptor of its first observation."""
        point_indices, descriptors = [], []
        seen: set[int] = set()
        for name in names:
            lookup = self.index.keypoint_points(name)
            keypoints = np.flatnonzero(lookup >= 0)
            first = [k for k in keypoints if lookup[k] not in seen]
            seen.update(lookup[first].tolist())
            point_indices.append(lookup[first])
            descriptors.append(self.unit_descriptors(name)[:, first])
        return np.concatenate(point_indices), torch.cat(descriptors, 1)

    def guided_matches(
        self,
        pose: pycolmap.Rigid3d,
        camera: pycolmap.Camera,
        query_keypoints: np.ndarray,
        query_descriptors: torch.Tensor,
        names: list[str],
    ) -> tuple[np.ndarray, np.ndarray]:
        """2D-3D matches (query keypoints, COLMAP convention; point indices) found around the projected map points."""
        point_indices, point_descriptors = self.map_points(names)
        pixels, valid = Camera.from_pycolmap(camera).project(
            Pose.from_pycolmap(pose).transform(torch.from_numpy(self.index.xyz[point_indices]))
        )
        pixels, valid = pixels.numpy(), valid.numpy()
        tree = cKDTree(query_keypoints)
        best_point, best_similarity = {}, {}
        for row in np.flatnonzero(valid):
            near = tree.query_ball_point(pixels[row], self.conf.search_radius)
            if not near:
                continue
            similarity = (query_descriptors[:, near].T @ point_descriptors[:, row]).numpy()
            keypoint, value = near[int(similarity.argmax())], float(similarity.max())
            if value >= self.conf.min_similarity and value > best_similarity.get(keypoint, -1.0):
                best_point[keypoint], best_similarity[keypoint] = point_indices[row], value
        keypoints = np.array(sorted(best_point), np.int64)
        return query_keypoints[keypoints], np.array([best_point[k] for k in keypoints], np.int64)

    def refine(
        self, pose: pycolmap.Rigid3d, num_inliers: int, camera: pycolmap.Camera, query: str, used: list[str]
    ) -> tuple[pycolmap.Rigid3d, dict]:
        """The pose after co-visibility refinement (a round is kept when it has more inliers than the pose before),
        and its log."""
        features = self.features.read(query)
        query_keypoints = features.keypoints + 0.5
        query_descriptors = torch.nn.functional.normalize(torch.from_numpy(features.descriptors).float(), dim=0)
        names = used + self.covisible(used)
        conf = replace(self.conf, ransac_max_error=self.conf.refine_ransac_max_error)  # PnP, tighter threshold
        rounds = []
        for _ in range(self.conf.refine_iterations):
            points2D, point_indices = self.guided_matches(pose, camera, query_keypoints, query_descriptors, names)
            points3D = self.index.xyz[point_indices]
            result = estimate_pose(points2D, points3D, camera, conf)
            # the current pose is scored on the same matches and threshold, so that the two compare fairly
            current = count_inliers(pose, camera, points2D, points3D, conf.ransac_max_error) if len(points2D) else 0
            accepted = result is not None and result["num_inliers"] > current
            rounds.append(
                {
                    "num_matches_2d3d": len(points2D),
                    "num_inliers": int(result["num_inliers"]) if result else 0,
                    "num_inliers_before": current,
                    "accepted": accepted,
                }
            )
            if not accepted:
                break
            pose, num_inliers = result["cam_from_world"], int(result["num_inliers"])
        return pose, {"db_images": names, "rounds": rounds, "num_inliers": num_inliers}


@dataclass(frozen=True)
class GroupPose:
    """A candidate group's PnP result and its place among the groups tried."""

    num_inliers: int
    pnp: dict
    number: int  # in the log's groups_tried
    group: CandidateGroup


@dataclass
class GroupSearch:
    """One query's search over its candidate groups: 2D-3D matches per image, the groups tried, the pose kept."""

    matches_2d3d: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    tried: list[dict] = field(default_factory=list)
    best: GroupPose | None = None
    num_newly_matched: int = 0

    def record(self, group: CandidateGroup, pnp: dict | None, entry: dict) -> bool:
        """Log a group's PnP; keep its pose if it is accepted (which ends the search) or has the most inliers so far.
        Whether it is accepted."""
        self.tried.append(entry)
        accepted, inliers = entry["accepted"], entry["num_inliers"]
        if pnp is not None and (accepted or self.best is None or inliers > self.best.num_inliers):
            self.best = GroupPose(inliers, pnp, len(self.tried) - 1, group)
        return accepted


def check_given_intrinsics(queries: Path) -> None:
    """LBR solves for the pose only: one line when `queries` has cameras whose focal length is not known exactly."""
    uncertain = sorted(name for name, source in read_intrinsics_sources(queries).items() if source in UNCERTAIN_SOURCES)
    if uncertain:
        raise ConfigError(
            f"{sources_path(queries)}: {len(uncertain)} queries (e.g. {uncertain[0]}) have a focal length from EXIF or "
            "a prior, which LBR does not estimate; localize them with --method hloc"
        )


def group_pnp(
    group: CandidateGroup,
    matches_2d3d: dict[str, tuple[np.ndarray, np.ndarray]],
    index: MapIndex,
    camera: pycolmap.Camera,
    conf: LbrConf,
    **entry,
) -> tuple[dict | None, dict]:
    """PnP on the 2D-3D matches of the group's images, with the camera centre's uncertainty (None below min_inliers
    or when the pose fails an acceptance test), and the group's log entry (`entry` added), which says whether the pose
    ends the search ("accepted") or which acceptance test it failed ("rejection")."""
    points2D = np.concatenate([matches_2d3d[n][0] for n in group.db_images])
    point_indices = np.concatenate([matches_2d3d[n][1] for n in group.db_images])
    result = checked_pose(points2D, index.xyz[point_indices], camera, conf)
    inliers = int(result["num_inliers"]) if result else 0
    std = result["position_std_relative"] if result else None
    rejection = result["rejection"] if result else None
    accepted = inliers >= conf.accept_inliers and std is not None and std <= conf.accept_max_position_std
    log = {
        "instance": group.instance,
        **entry,
        "db_images": group.db_images,
        "num_matches_2d3d": len(points2D),
        "num_inliers": inliers,
        "position_std_relative": std,
        "accepted": accepted and rejection is None,
    }
    if rejection is not None:
        log.update(inlier_ratio=result["inlier_ratio"], rejection=rejection)
        return None, log
    return result, log


def search_groups(
    query: str,
    camera: pycolmap.Camera,
    groups: list[CandidateGroup],
    index: MapIndex,
    keypoints: np.ndarray,
    store: MatchStore,
    conf: LbrConf,
) -> GroupSearch:
    """Try the groups in order, matching their pairs when reached, until one is accepted; if none is, PnP on the
    pooled best-matched images of all of them."""
    search = GroupSearch()
    for group in groups:
        search.num_newly_matched += store.get(query, group.db_images)
        for name in group.db_images:
            if name not in search.matches_2d3d:
                search.matches_2d3d[name] = correspondences(query, name, index, keypoints, store.reader)
        if search.record(group, *group_pnp(group, search.matches_2d3d, index, camera, conf)):
            return search
    # No group was convincing: pool the best-matched of every image matched so far,
    # as hierarchical localization does.
    matches = search.matches_2d3d
    pooled = CandidateGroup(sorted(matches, key=lambda n: (-len(matches[n][0]), n))[: conf.num_pooled])
    if len(groups) > 1 and pooled.db_images:
        search.record(pooled, *group_pnp(pooled, matches, index, camera, conf, pooled=True))
    return search


def failure_fields(tried: list[dict], groups: list[CandidateGroup], conf: LbrConf) -> dict:
    """Why no group gave a pose, for the log: the acceptance test failed by the rejected group with the most inliers,
    if any was rejected."""
    rejected = [entry for entry in tried if "rejection" in entry]
    if rejected:
        return {"failure_reason": max(rejected, key=lambda entry: entry["num_inliers"])["rejection"], "rejected": True}
    return {"failure_reason": "no candidate group" if not groups else f"no group gave {conf.min_inliers} PnP inliers"}


def localize_query(
    query: str,
    camera: pycolmap.Camera,
    groups: list[CandidateGroup],
    index: MapIndex,
    features: FeatureReader,
    store: MatchStore,
    conf: LbrConf,
    refiner: CovisibilityRefiner | None,
) -> tuple[pycolmap.Rigid3d | None, dict]:
    """Pose of one query from its candidate groups, trying them in order until one is accepted, and its log entry."""
    start = time.perf_counter()
    search = search_groups(query, camera, groups, index, features.keypoints(query), store, conf)
    log = {
        "name": query,
        "method": "lbr",
        "groups_tried": search.tried,
        "num_groups": len(groups),
        "num_pairs_matched": len(search.matches_2d3d),
        "num_pairs_matched_now": search.num_newly_matched,
        "ransac_max_error": conf.ransac_max_error,
        "success": search.best is not None,
        "fallback": False,
    }
    pose = None
    if search.best is None:
        log.update(failure_fields(search.tried, groups, conf))
    else:
        best = search.best
        pose = best.pnp["cam_from_world"]
        log.update(
            accepted_group=best.number,
            accepted_instance=best.group.instance,
            early_exit=search.tried[best.number]["accepted"],
            num_inliers=best.num_inliers,
            inlier_ratio=best.pnp["inlier_ratio"],
            db_images_used=best.group.db_images,
            position_std=best.pnp["position_std"],
            position_std_relative=best.pnp["position_std_relative"],
        )
        if refiner is not None:
            pose, log["covisibility_refinement"] = refiner.refine(
                pose, best.num_inliers, camera, query, best.group.db_images
            )
        log["cam_from_world"] = pose_record(pose)
    log["time_s"] = time.perf_counter() - start
    return pose, log


def main(
    conf: LbrConf,
    match_conf: MatchConf,
    inputs: LocalizationInputs,
    results: Path,
    *,
    labels: list[Path] | None = None,
) -> Path:
    """Localize the queries over the candidate groups of `inputs.pairs` (vloc pairs instances); pairs are matched with
    `match_conf` when first reached and kept in `inputs.matches` (pairs already there are reused).
    Writes `results` and its log."""
    quiet_pycolmap()
    cameras = read_queries(inputs.queries, required=True)
    check_given_intrinsics(inputs.queries)
    groups = read_groups(groups_path(inputs.pairs))
    pairs = [(q, n) for q, gs in groups.items() for g in gs for n in g.db_images]
    check_pair_keys(pairs, groups_path(inputs.pairs))
    model = read_model(inputs.model, need_points=True)
    index = MapIndex(model)
    db_names = {n for query_groups in groups.values() for g in query_groups for n in g.db_images}
    for name in sorted(db_names - set(index.images)):
        raise FormatError(f"{groups_path(inputs.pairs)}: database image '{name}' is not in the model {inputs.model}")
    with contextlib.ExitStack() as stack:
        feature_reader = stack.enter_context(FeatureReader(inputs.features))
        label_source = stack.enter_context(KeypointLabels(labels)) if labels else None
        matcher = PairMatcher(match_conf, feature_reader, feature_reader, label_source)
        check_descriptors(pairs, feature_reader, feature_reader, matcher.matcher)
        handle = stack.enter_context(atomic_writer(inputs.matches, resume=True))
        stamp_config(handle, inputs.matches, to_json(match_conf))
        store = MatchStore(matcher, handle, inputs.matches)
        refiner = CovisibilityRefiner(conf, model, index, feature_reader) if conf.covisibility_refinement else None
        check_query_features(cameras, feature_reader, inputs.queries)
        grouped = {query for query, query_groups in groups.items() if query_groups}
        check_queries_paired(cameras, grouped, groups_path(inputs.pairs), inputs.queries)
        check_database_keypoints(index, feature_reader, db_names, inputs.model)
        poses, logs = localize_all(
            sorted(cameras),
            "localize (lbr)",
            lambda query: localize_query(
                query, cameras[query], groups.get(query, []), index, feature_reader, store, conf, refiner
            ),
        )
    matched = [log["num_pairs_matched"] for log in logs]
    summary = {
        "conf": asdict(conf),
        "match_conf": json.loads(to_json(match_conf)),
        "num_queries": len(cameras),
        "num_localized": sum(log["success"] for log in logs),
        "num_rejected": count_rejected(logs, results),
        "mean_pairs_matched": float(np.mean(matched)) if matched else 0.0,
        "num_early_exits": sum(bool(log.get("early_exit")) for log in logs),
    }
    return write_results(results, poses, summary, logs)
