"""How well the ground truth explains each query's 2D-3D matches, beside the estimate: inliers of each pose.

A localization error is the distance between two poses, and either may be the wrong one. Where the ground-truth
pose reprojects far fewer of the query's matches into the map than the estimate does, the map's own poses (made by
the same SLAM run, say) and the query's disagree, and the measured error is partly the ground truth's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pycolmap

from vloc.console import track
from vloc.errors import InputError
from vloc.evaluate.poses import query_groups
from vloc.io.features import FeatureReader
from vloc.io.matches import MatchReader
from vloc.io.model import read_ground_truth, read_model
from vloc.io.text import read_image_list, read_poses, read_queries, write_text_atomic
from vloc.pnp.absolute_pose import check_database_keypoints, check_query_features, correspondences, count_inliers
from vloc.pnp.inputs import LocalizationInputs
from vloc.pnp.map_index import MapIndex, database_images_by_query


@dataclass(frozen=True)
class PoseSupport:
    """Of one query's unique 2D-3D matches, how many the estimate and the ground truth reproject within max_error px."""

    num_matches: int
    inliers_estimate: int | None  # None: the query has no estimate (failed)
    inliers_truth: int

    @property
    def truth_per_estimate(self) -> float | None:
        """Ground-truth inliers per estimate inlier; None without an estimate or without its inliers."""
        return self.inliers_truth / self.inliers_estimate if self.inliers_estimate else None


def unique_correspondences(
    query: str, db_names: list[str], index: MapIndex, keypoints: np.ndarray, matches: MatchReader
) -> tuple[np.ndarray, np.ndarray]:
    """The query's 2D-3D matches through all of `db_names`, each (2D point, 3D point) pair once."""
    per_image = [correspondences(query, name, index, keypoints, matches) for name in db_names]
    points2D = np.concatenate([p for p, _ in per_image] or [np.zeros((0, 2))])
    point_indices = np.concatenate([i for _, i in per_image] or [np.zeros(0, np.int64)])
    _, first = np.unique(np.column_stack([points2D, point_indices]), axis=0, return_index=True)
    return points2D[first], point_indices[first]


def pose_support(
    camera: pycolmap.Camera,
    points2D: np.ndarray,
    points3D: np.ndarray,
    estimate: pycolmap.Rigid3d | None,
    truth: pycolmap.Rigid3d,
    max_error: float,
) -> PoseSupport:
    """Inliers of the estimate (if any) and of the ground truth among the matches:
    reprojected within max_error pixels."""

    def inliers(pose: pycolmap.Rigid3d) -> int:
        return count_inliers(pose, camera, points2D, points3D, max_error)

    return PoseSupport(len(points2D), None if estimate is None else inliers(estimate), inliers(truth))


def summarize(supports: list[PoseSupport], weak_ratio: float) -> dict:
    """Medians over the queries, and how many have a ground truth with fewer than `weak_ratio`
    of the estimate's inliers."""
    compared = [s for s in supports if s.truth_per_estimate is not None]

    def median(values: list[float]) -> float | None:
        return float(np.median(values)) if values else None

    return {
        "num_queries": len(supports),
        "num_failed": sum(s.inliers_estimate is None for s in supports),
        "num_compared": len(compared),
        "median_matches": median([s.num_matches for s in supports]),
        "median_inliers_estimate": median([s.inliers_estimate for s in compared]),
        "median_inliers_truth": median([s.inliers_truth for s in compared]),
        "median_truth_per_estimate": median([s.truth_per_estimate for s in compared]),
        "num_truth_weak": sum(s.truth_per_estimate < weak_ratio for s in compared),
    }


def print_support(report: dict) -> None:
    """A rich table: one row per group."""
    from rich.console import Console
    from rich.table import Table

    def show(value: float | None, form: str) -> str:
        return "-" if value is None else f"{value:{form}}"

    table = Table(title=f"ground truth against the query matches: median inliers within {report['max_error_px']:g} px")
    for column in [
        "group",
        "queries",
        "matches",
        "estimate",
        "ground truth",
        "truth / estimate",
        f"truth < {report['weak_ratio']:g}x",
    ]:
        table.add_column(column, justify="right")
    for group, s in report["groups"].items():
        table.add_row(
            group,
            str(s["num_queries"]),
            show(s["median_matches"], ".0f"),
            show(s["median_inliers_estimate"], ".0f"),
            show(s["median_inliers_truth"], ".0f"),
            show(s["median_truth_per_estimate"], ".2f"),
            str(s["num_truth_weak"]),
        )
    Console().print(table)


def main(
    inputs: LocalizationInputs,
    results: Path,
    ground_truth: Path,
    *,
    max_error: float = 4.0,
    weak_ratio: float = 0.5,
    query_list: Path | None = None,
    conditions: dict[str, str] | None = None,
    out_json: Path | None = None,
) -> dict:
    """Count, per query, the matches (through every image it is paired with) that its estimate and its ground-truth
    pose reproject within `max_error` pixels; print the medians per group, optionally write JSON; return the report.
    The queries are those of `query_list` where given, else all of `inputs.queries`."""
    cameras = read_queries(inputs.queries)
    estimates = read_poses(results)
    truth = read_ground_truth(ground_truth)
    source = inputs.queries if query_list is None else query_list
    queries = sorted(cameras) if query_list is None else read_image_list(query_list)
    for name in queries:
        if name not in cameras:
            raise InputError(f"{inputs.queries}: query {name} has no camera")
        if name not in truth:
            raise InputError(f"{source}: query {name} has no ground-truth pose in {ground_truth}")
    for name in estimates:
        if name not in cameras:
            raise InputError(f"{results}: query {name} is not in {inputs.queries}")
    index = MapIndex(read_model(inputs.model, need_points=True))
    db_by_query = database_images_by_query(inputs.pairs, index, inputs.model)
    if not set(queries) & set(db_by_query):
        raise InputError(f"{inputs.pairs}: pairs none of the {len(queries)} queries with a database image")
    supports = {}
    with FeatureReader(inputs.features) as feature_reader, MatchReader(inputs.matches) as match_reader:
        check_query_features({name: cameras[name] for name in queries}, feature_reader, inputs.queries)
        check_database_keypoints(
            index, feature_reader, {n for names in db_by_query.values() for n in names}, inputs.model
        )
        for name in track(queries, "ground-truth support", len(queries)):
            points2D, point_indices = unique_correspondences(
                name, db_by_query.get(name, []), index, feature_reader.keypoints(name), match_reader
            )
            supports[name] = pose_support(
                cameras[name], points2D, index.xyz[point_indices], estimates.get(name), truth[name], max_error
            )
    groups = query_groups(queries, conditions)
    report = {
        "max_error_px": max_error,
        "weak_ratio": weak_ratio,
        "groups": {group: summarize([supports[n] for n in names], weak_ratio) for group, names in groups.items()},
        "queries": {n: {**asdict(s), "truth_per_estimate": s.truth_per_estimate} for n, s in supports.items()},
    }
    print_support(report)
    if out_json is not None:
        write_text_atomic(out_json, json.dumps(report, indent=2) + "\n")
    return report
