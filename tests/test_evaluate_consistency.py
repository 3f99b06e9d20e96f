"""Ground-truth support: a true ground truth explains the query matches as the estimate does, a wrong one does not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pycolmap
import pytest
from helpers import assert_one_line_error, localization_inputs
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from vloc.cli import app
from vloc.evaluate import consistency as evaluate_consistency
from vloc.geometry.rigid3d import rigid_from_matrix
from vloc.io.features import FeatureReader
from vloc.io.matches import MatchReader
from vloc.io.model import read_model
from vloc.io.text import read_image_list, read_poses, read_queries, write_poses, write_queries
from vloc.localize import hierarchical as localize
from vloc.pnp.absolute_pose import LocalizeConf, correspondences
from vloc.pnp.map_index import MapIndex


@pytest.fixture(scope="module")
def localized(synthetic_map: dict[str, Path], tmp_path_factory) -> dict[str, Path]:
    """The synthetic map's night queries localized against its day map."""
    results = tmp_path_factory.mktemp("consistency") / "results.txt"
    localize.main(LocalizeConf(), localization_inputs(synthetic_map), results)
    return {**synthetic_map, "results": results}


def support(paths: dict[str, Path], results: Path | None = None, ground_truth: Path | None = None, **options) -> dict:
    return evaluate_consistency.main(
        localization_inputs(paths),
        results or paths["results"],
        ground_truth or paths["ground_truth"],
        **options,
    )


def test_exact_ground_truth_explains_the_matches_as_the_estimate_does(localized: dict[str, Path]):
    report = support(localized)
    overall = report["groups"]["all"]
    assert overall["num_queries"] == overall["num_compared"] == 12
    assert overall["median_inliers_estimate"] >= 100
    assert overall["median_truth_per_estimate"] >= 0.95 and overall["num_truth_weak"] == 0


def test_ground_truth_turned_by_one_degree_loses_its_inliers(localized: dict[str, Path], tmp_path: Path):
    """Each true pose turned by 1 degree about its camera's vertical axis moves every point by several pixels."""
    turn = Rotation.from_rotvec([0, np.radians(1.0), 0]).as_matrix()
    truth = read_poses(localized["ground_truth"])
    turned = {n: rigid_from_matrix(turn @ p.rotation.matrix(), turn @ p.translation) for n, p in truth.items()}
    write_poses(tmp_path / "turned.txt", turned)
    report = support(localized, ground_truth=tmp_path / "turned.txt")
    overall = report["groups"]["all"]
    assert overall["median_truth_per_estimate"] < 0.2 and overall["num_truth_weak"] == 12
    # The same poses as estimates against the exact ground truth: the ground truth now has the most inliers.
    reverse = support(localized, results=tmp_path / "turned.txt")
    assert reverse["groups"]["all"]["median_truth_per_estimate"] > 5


def test_failed_query_is_counted_but_not_compared(localized: dict[str, Path], tmp_path: Path):
    poses = read_poses(localized["results"])
    failed = sorted(poses)[0]
    del poses[failed]
    write_poses(tmp_path / "results.txt", poses)
    report = support(localized, results=tmp_path / "results.txt", out_json=tmp_path / "support.json")
    overall = report["groups"]["all"]
    assert overall["num_queries"] == 12 and overall["num_failed"] == 1 and overall["num_compared"] == 11
    written = json.loads((tmp_path / "support.json").read_text())
    assert written["queries"][failed]["inliers_estimate"] is None and written["queries"][failed]["inliers_truth"] > 50
    assert written["queries"][failed]["truth_per_estimate"] is None


def test_groups_by_condition(localized: dict[str, Path], tmp_path: Path):
    """A ground truth wrong for half the queries: that condition's group shows it, the other's does not."""
    truth = read_poses(localized["ground_truth"])
    names = sorted(truth)
    turn = Rotation.from_rotvec([0, np.radians(1.0), 0]).as_matrix()
    for name in names[:6]:
        truth[name] = rigid_from_matrix(turn @ truth[name].rotation.matrix(), turn @ truth[name].translation)
    write_poses(tmp_path / "half.txt", truth)
    conditions = {n: "turned" if i < 6 else "exact" for i, n in enumerate(names)}
    groups = support(localized, ground_truth=tmp_path / "half.txt", conditions=conditions)["groups"]
    assert groups["turned"]["num_truth_weak"] == 6 and groups["turned"]["median_truth_per_estimate"] < 0.2
    assert groups["exact"]["num_truth_weak"] == 0 and groups["exact"]["median_truth_per_estimate"] >= 0.95
    assert groups["all"]["num_queries"] == 12 and groups["all"]["num_truth_weak"] == 6


def test_each_keypoint_point_pair_counts_once(localized: dict[str, Path]):
    """A query keypoint matched to one 3D point through several database images is one match, not several."""
    index = MapIndex(read_model(localized["model"], need_points=True))
    query, db_names = read_image_list(localized["root"] / "query_list.txt")[0], sorted(index.images)
    with FeatureReader(localized["features"]) as features, MatchReader(localized["matches_query"]) as matches:
        keypoints = features.keypoints(query)
        pooled = [correspondences(query, n, index, keypoints, matches) for n in db_names]
        points2D, point_indices = evaluate_consistency.unique_correspondences(
            query, db_names, index, keypoints, matches
        )
    pooled_pairs = {(x, y, i) for p, ids in pooled for (x, y), i in zip(p.tolist(), ids.tolist())}
    assert sum(len(ids) for _, ids in pooled) > len(pooled_pairs)  # the fixture has repeated matches
    assert len(point_indices) == len(pooled_pairs)
    assert {(x, y, i) for (x, y), i in zip(points2D.tolist(), point_indices.tolist())} == pooled_pairs


def test_bad_inputs_fail_with_one_line(localized: dict[str, Path], tmp_path: Path):
    arguments = [str(localized[k]) for k in ("model", "queries", "pairs_query", "features", "matches_query", "results")]
    truth = read_poses(localized["ground_truth"])
    missing = sorted(truth)[0]
    del truth[missing]
    write_poses(tmp_path / "partial.txt", truth)
    result = CliRunner().invoke(app, ["evaluate", "consistency", *arguments, str(tmp_path / "partial.txt")])
    assert_one_line_error(result, missing, "no ground-truth pose", str(tmp_path / "partial.txt"))
    (tmp_path / "names.txt").write_text(f"{missing}\n")
    options = ["--queries", str(tmp_path / "names.txt")]
    result = CliRunner().invoke(app, ["evaluate", "consistency", *arguments, str(tmp_path / "partial.txt"), *options])
    assert_one_line_error(result, f"names.txt: query {missing} has no ground-truth pose")

    poses = read_poses(localized["results"])
    poses["stranger.png"] = next(iter(poses.values()))
    write_poses(tmp_path / "stranger.txt", poses)
    arguments[5] = str(tmp_path / "stranger.txt")
    result = CliRunner().invoke(app, ["evaluate", "consistency", *arguments, str(localized["ground_truth"])])
    assert_one_line_error(result, "stranger.png", "is not in", str(localized["queries"]))

    arguments[5] = str(localized["results"])
    arguments[2] = str(localized["pairs_mapping"])  # the mapping pairs by mistake: no query in them
    result = CliRunner().invoke(app, ["evaluate", "consistency", *arguments, str(localized["ground_truth"])])
    assert_one_line_error(result, str(localized["pairs_mapping"]), "none of the 12 queries")

    arguments[2] = str(localized["pairs_query"])
    cameras = read_queries(localized["queries"])
    name = sorted(cameras)[0]
    cameras[name] = pycolmap.Camera(model="SIMPLE_PINHOLE", width=1280, height=960, params=[1000, 640, 480])
    write_queries(tmp_path / "queries.txt", cameras)
    arguments[1] = str(tmp_path / "queries.txt")
    result = CliRunner().invoke(app, ["evaluate", "consistency", *arguments, str(localized["ground_truth"])])
    assert_one_line_error(result, str(tmp_path / "queries.txt"), name, "1280x960", "640x480")
