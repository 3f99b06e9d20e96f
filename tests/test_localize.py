"""Localization: accurate poses on a synthetic scene, failures logged as failures, one-line errors."""

from __future__ import annotations

import json
from dataclasses import astuple
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pycolmap
import pytest
from helpers import assert_one_line_error, localization_inputs, random_matches
from typer.testing import CliRunner

from vloc.cli import app
from vloc.errors import FormatError
from vloc.evaluate.poses import evaluate
from vloc.featuremetric.query_refiner import RefineConf
from vloc.geometry.reprojection import pose_change, pose_covariance, pose_moved
from vloc.geometry.rigid3d import pose_errors
from vloc.io.groups import CandidateGroup, groups_path, write_groups
from vloc.io.intrinsics import write_intrinsics_sources
from vloc.io.model import write_model
from vloc.io.text import log_path, read_poses, read_queries, write_queries
from vloc.localize import hierarchical as localize
from vloc.pnp.absolute_pose import LocalizeConf, acceptance_failure


def run(paths: dict[str, Path], results: Path, conf: LocalizeConf | None = None, **changes) -> Path:
    if conf is None:
        conf = LocalizeConf()
    return localize.main(conf, localization_inputs(paths, **changes), results)


def test_night_queries_are_localized_against_the_day_map(synthetic_map: dict[str, Path], tmp_path: Path):
    results = run(synthetic_map, tmp_path / "results.txt")
    report = evaluate(read_poses(results), read_poses(synthetic_map["ground_truth"]), [(0.05, 0.5)])
    assert report["groups"]["all"]["num_failed"] == 0
    assert report["groups"]["all"]["median_translation_m"] < 0.02
    assert report["groups"]["all"]["median_rotation_deg"] < 0.1
    assert report["groups"]["all"]["recall_percent"][0] >= 80
    log = json.loads(log_path(results).read_text())
    entry = log["queries"][0]
    assert entry["success"] and entry["num_inliers"] >= 12 and entry["num_matches_2d3d"] >= entry["num_inliers"]
    assert set(entry["db_images"]) == set(entry["matches_2d3d_per_db_image"])
    assert log["summary"]["num_localized"] == log["summary"]["num_queries"] == 12
    # every query passes the acceptance tests, the worst (1.3 m off, 18 of 39 matches) with a ratio above 0.4
    assert log["summary"]["num_rejected"] == 0
    assert min(q["inlier_ratio"] for q in log["queries"]) > 0.4
    assert entry["inlier_ratio"] == entry["num_inliers"] / entry["num_matches_2d3d"]


def test_random_2d3d_matches_localize_no_query(synthetic_map: dict[str, Path], tmp_path: Path, caplog):
    """PnP finds 12 to 20 inliers among 1200 random 2D-3D matches; the inlier-ratio test rejects every such pose, the
    log says so, and a warning counts them. With the tests turned off, the same poses are metres off."""
    matches = random_matches(synthetic_map, tmp_path / "random.h5", per_pair=100)
    arguments = ["localize", *map(str, astuple(localization_inputs(synthetic_map, matches=matches)))]
    result = CliRunner().invoke(app, [*arguments, str(tmp_path / "results.txt")])
    assert result.exit_code == 0, result.output
    assert "12 of 12 queries had their pose rejected by the acceptance tests" in caplog.text
    log = json.loads(log_path(tmp_path / "results.txt").read_text())
    assert log["summary"]["num_localized"] == 0 and log["summary"]["num_rejected"] == 12
    assert read_poses(tmp_path / "results.txt") == {}
    for entry in log["queries"]:
        assert not entry["success"] and entry["rejected"] and entry["num_matches_2d3d"] == 1200
        assert 12 <= entry["num_inliers"] <= 20 and entry["inlier_ratio"] == entry["num_inliers"] / 1200
        assert entry["failure_reason"] == f"inlier ratio {entry['inlier_ratio']:.3f} < 0.1 (min_inlier_ratio)"
    off = ["--set", "min_inlier_ratio=0", "--set", "max_position_std_relative=inf"]
    result = CliRunner().invoke(app, [*arguments, str(tmp_path / "off.txt"), *off])
    assert result.exit_code == 0, result.output
    report = evaluate(read_poses(tmp_path / "off.txt"), read_poses(synthetic_map["ground_truth"]), [(0.5, 5)])
    assert report["groups"]["all"]["num_failed"] == 0 and report["groups"]["all"]["median_translation_m"] > 1


@pytest.mark.parametrize(
    ("ratio", "std", "changes", "failure"),
    [
        (0.5, 0.001, {}, None),
        (0.099, 0.001, {}, "inlier ratio 0.099 < 0.1 (min_inlier_ratio)"),
        (0.099, 0.001, {"min_inlier_ratio": 0.0}, None),
        (0.5, 0.06, {}, "relative position std 0.06 > 0.05 (max_position_std_relative)"),
        (0.5, None, {}, "camera centre not determined by the inliers (max_position_std_relative)"),
        (0.5, None, {"max_position_std_relative": float("inf")}, None),
    ],
)
def test_acceptance_names_the_test_a_pose_fails(ratio: float, std: float | None, changes: dict, failure: str | None):
    pnp = {"inlier_ratio": ratio, "position_std_relative": std}
    assert acceptance_failure(pnp, LocalizeConf(**changes)) == failure


def test_position_std_tells_how_good_each_pose_is(synthetic_map: dict[str, Path], tmp_path: Path):
    """The logged uncertainty of the camera centre is of the size of the actual error, and the query with the largest
    error (an ill-conditioned pose, metres off) has the largest relative uncertainty."""
    results = run(synthetic_map, tmp_path / "results.txt")
    truth, poses = read_poses(synthetic_map["ground_truth"]), read_poses(results)
    entries = json.loads(log_path(results).read_text())["queries"]
    errors = np.array([pose_errors(poses[e["name"]], truth[e["name"]])[0] for e in entries])
    stds = np.array([e["position_std"] for e in entries])
    relative = np.array([e["position_std_relative"] for e in entries])
    assert (stds > 0).all() and 0.3 < np.median(errors / stds) < 4
    assert errors.argmax() == relative.argmax() and errors.max() > 0.5 and relative.max() > 0.005 > np.median(relative)


def test_covisibility_clustering_keeps_accuracy(synthetic_map: dict[str, Path], tmp_path: Path):
    conf = LocalizeConf(covisibility_clustering=True, num_db_images=0)
    results = run(synthetic_map, tmp_path / "results.txt", conf)
    report = evaluate(read_poses(results), read_poses(synthetic_map["ground_truth"]), [(0.05, 0.5)])
    assert report["groups"]["all"]["recall_percent"][0] >= 80
    for query in json.loads(log_path(results).read_text())["queries"]:
        assert set(query["db_images_used"]) <= set(query["db_images_selected"])


class FakeIndex(localize.MapIndex):
    """Four images: a and b share 3D point 1, c and d share point 2, e sees nothing in common."""

    def __init__(self):
        self.points = {"a": [1, 5], "b": [1], "c": [2], "d": [2, 7], "e": [9]}

    def keypoint_points(self, name: str) -> np.ndarray:
        return np.array(self.points[name] + [-1])


def test_clusters_are_connected_components_largest_first():
    assert FakeIndex().clusters(["e", "c", "a", "d", "b"]) == [["c", "d"], ["a", "b"], ["e"]]


def test_a_query_without_matches_is_logged_as_failed_not_given_a_pose(
    synthetic_map: dict[str, Path], tmp_path: Path, caplog
):
    pairs = tmp_path / "pairs.txt"
    kept = [
        line for line in synthetic_map["pairs_query"].read_text().splitlines() if not line.startswith("night/frame_001")
    ]
    pairs.write_text("\n".join(kept) + "\n")
    results = run(synthetic_map, tmp_path / "results.txt", pairs=pairs)
    assert f"1 of 12 queries of {synthetic_map['queries']} have no pairs in {pairs}" in caplog.text
    assert "night/frame_001.png" not in read_poses(results)
    entry = {q["name"]: q for q in json.loads(log_path(results).read_text())["queries"]}["night/frame_001.png"]
    assert not entry["success"] and entry["failure_reason"] == "only 0 2D-3D matches"
    # A fallback is explicit and recorded: here none is possible since the query is paired with no database image.
    results = run(synthetic_map, tmp_path / "fallback.txt", LocalizeConf(fallback_to_top_image=True), pairs=pairs)
    assert "night/frame_001.png" not in read_poses(results)


def test_a_query_that_matched_nothing_falls_back_to_the_first_image_of_its_pairs(
    synthetic_map: dict[str, Path], tmp_path: Path
):
    """hloc's fallback for a submission: with no 2D-3D match at all, the first paired image (retrieval's top) gives the
    pose, in the pairs file's order, and only when asked."""
    lines = synthetic_map["pairs_query"].read_text().splitlines()[::-1]  # database images in reverse name order
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(lines) + "\n")
    first_listed: dict[str, str] = {}
    for line in lines:
        query, db_name = line.split()
        first_listed.setdefault(query, db_name)
    nothing = random_matches(synthetic_map, tmp_path / "nothing.h5", per_pair=0)
    results = run(synthetic_map, tmp_path / "none.txt", pairs=pairs, matches=nothing)
    assert read_poses(results) == {}
    results = run(
        synthetic_map, tmp_path / "fallback.txt", LocalizeConf(fallback_to_top_image=True), pairs=pairs, matches=nothing
    )
    log = json.loads(log_path(results).read_text())["queries"]
    assert {q["name"]: q["fallback_image"] for q in log if q["fallback"]} == first_listed
    assert all(q["failure_reason"] == "only 0 2D-3D matches" for q in log)
    model = pycolmap.Reconstruction(synthetic_map["model"])
    poses = {image.name: image.cam_from_world() for image in model.images.values()}
    for query, pose in read_poses(results).items():
        assert np.allclose(pose.matrix(), poses[first_listed[query]].matrix())


def test_fallback_pose_is_recorded_in_the_log(synthetic_map: dict[str, Path], tmp_path: Path):
    conf = LocalizeConf(min_inliers=100000, fallback_to_top_image=True)  # every PnP "fails"
    results = run(synthetic_map, tmp_path / "results.txt", conf)
    log = json.loads(log_path(results).read_text())["queries"]
    assert all(not q["success"] and q["fallback"] for q in log)
    assert read_poses(results).keys() == {q["name"] for q in log}
    assert all(q["failure_reason"] == f"only {q['num_matches_2d3d']} 2D-3D matches" for q in log)
    assert all(q["fallback_image"] == q["db_images_selected"][0] for q in log)
    assert all(q["widened_to_all_db_images"] and len(q["db_images_selected"]) > 3 for q in log)


def test_bad_inputs_fail_with_one_line(synthetic_map: dict[str, Path], tmp_path: Path):
    queries = tmp_path / "queries.txt"
    camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=640, height=480, params=[500, 320, 240])
    write_queries(queries, {"night/unknown.png": camera})
    with pytest.raises(FormatError, match="query 'night/unknown.png' has no features"):
        run(synthetic_map, tmp_path / "r.txt", queries=queries)

    pairs = tmp_path / "pairs.txt"
    pairs.write_text("night/frame_001.png day/missing.png\n")
    with pytest.raises(FormatError, match="database image 'day/missing.png' is not in the model"):
        run(synthetic_map, tmp_path / "r.txt", pairs=pairs)

    empty = pycolmap.Reconstruction(synthetic_map["reference"])
    write_model(empty, tmp_path / "empty")
    result = CliRunner().invoke(
        app,
        [
            "localize",
            str(tmp_path / "empty"),
            str(synthetic_map["queries"]),
            str(synthetic_map["pairs_query"]),
            str(synthetic_map["features"]),
            str(synthetic_map["matches_query"]),
            str(tmp_path / "r.txt"),
        ],
    )
    assert result.exit_code == 1
    assert "model has no 3D points" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "r.txt").exists()


def test_pairs_that_pair_none_of_the_queries_fail_with_one_line(synthetic_map: dict[str, Path], tmp_path: Path):
    """The mapping pairs given by mistake, an empty pairs file, or (lbr) empty groups: an error, not 0/12 localized."""
    results = tmp_path / "results.txt"
    results.write_text("earlier results\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    write_groups(groups_path(empty), {})
    for pairs in (synthetic_map["pairs_mapping"], empty):
        inputs = localization_inputs(synthetic_map, pairs=pairs)
        result = CliRunner().invoke(app, ["localize", *map(str, astuple(inputs)), str(results)])
        assert_one_line_error(result, f"{pairs}: pairs none of the 12 queries of {synthetic_map['queries']}")
    result = CliRunner().invoke(
        app, ["localize", *map(str, astuple(inputs)), str(results), "--method", "lbr", "--match-conf", "nn-ratio"]
    )
    assert_one_line_error(result, f"{groups_path(empty)}: pairs none of the 12 queries of {synthetic_map['queries']}")
    assert results.read_text() == "earlier results\n"


def test_intrinsics_of_another_image_size_than_the_features_fail_with_one_line(
    synthetic_map: dict[str, Path], tmp_path: Path
):
    """queries.txt for 1280x960 images, features of the 640x480 ones: hloc and lbr refuse before writing a pose."""
    cameras = read_queries(synthetic_map["queries"])
    for camera in cameras.values():
        camera.rescale(2.0)
    write_queries(tmp_path / "queries.txt", cameras)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(synthetic_map["pairs_query"].read_text())
    write_groups(groups_path(pairs), {query: [CandidateGroup(["day/frame_000.png"])] for query in cameras})
    results = tmp_path / "results.txt"
    results.write_text("earlier results\n")
    inputs = localization_inputs(synthetic_map, queries=tmp_path / "queries.txt", pairs=pairs)
    for method in ("hloc", "lbr"):
        result = CliRunner().invoke(
            app, ["localize", *map(str, astuple(inputs)), str(results), "--method", method, "--match-conf", "nn-ratio"]
        )
        assert_one_line_error(
            result,
            f"{tmp_path / 'queries.txt'}: query '{sorted(cameras)[0]}' has intrinsics for a 1280x960 image, "
            f"but its features in {synthetic_map['features']} are of a 640x480 image",
        )
        assert results.read_text() == "earlier results\n"


def test_map_index_finds_the_3d_point_of_each_keypoint(synthetic_map: dict[str, Path]):
    model = pycolmap.Reconstruction(synthetic_map["model"])
    index = localize.MapIndex(model)
    image = model.find_image_with_name("day/frame_000.png")
    lookup = index.keypoint_points("day/frame_000.png")
    for point_index, point2D in list(zip(lookup, image.points2D))[::25]:
        if point2D.has_point3D():
            np.testing.assert_allclose(index.xyz[point_index], model.points3D[point2D.point3D_id].xyz)
        else:
            assert point_index == -1


@pytest.mark.parametrize("keep_pnp_inliers", [True, False])
def test_a_refinement_that_loses_2d3d_inliers_keeps_the_pnp_pose(keep_pnp_inliers: bool):
    camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=640, height=480, params=[500.0, 320.0, 240.0])
    rng = np.random.default_rng(0)
    xyz = rng.uniform([-1, -1, 4], [1, 1, 6], (60, 3))
    pixels = 500 * xyz[:, :2] / xyz[:, 2:] + [320, 240] + rng.normal(0, 0.3, (60, 2))  # seen from the identity pose
    pnp = {"cam_from_world": pycolmap.Rigid3d(), "inlier_mask": np.ones(60, bool)}
    nudged = pycolmap.Rigid3d(pycolmap.Rotation3d(np.array([0.0, 0.001, 0.0])), np.zeros(3))  # 0.5 px: all inliers
    turned = pycolmap.Rigid3d(pycolmap.Rotation3d(np.array([0.0, 0.05, 0.0])), np.zeros(3))  # 25 px: none
    index = SimpleNamespace(xyz=xyz)
    conf = LocalizeConf()
    certain = np.eye(6) * 1e-20  # the feature-metric pose outweighs the PnP one: the fused pose is the refined one

    def refine_to(pose: pycolmap.Rigid3d):
        conf = RefineConf(keep_pnp_inliers=keep_pnp_inliers, max_pose_change_chi2=np.inf)  # the other test's check
        return SimpleNamespace(conf=conf, refine=lambda *args: (pose, certain, {"accepted": True}))

    matches = (pixels, np.arange(60))
    pose, log = localize.refine_pnp_pose(refine_to(nudged), "q", camera, pnp, ["db"], matches, index, conf)
    assert max(pose_errors(pose, nudged)) < 1e-9
    assert log["accepted"] and log["num_inliers_before"] == log["num_inliers_after"] == 60
    pose, log = localize.refine_pnp_pose(refine_to(turned), "q", camera, pnp, ["db"], matches, index, conf)
    assert log["num_inliers_before"] == 60 and log["num_inliers_after"] == 0
    if keep_pnp_inliers:
        assert pose is pnp["cam_from_world"] and not log["accepted"] and "lost 2D-3D inliers" in log["failure_reason"]
    else:
        assert max(pose_errors(pose, turned)) < 1e-9 and log["accepted"]


@pytest.mark.parametrize("chi2, accepted", [(8.0, True), (60.0, False)])
def test_a_refinement_is_fused_with_the_pnp_pose_or_refused_where_they_disagree(chi2: float, accepted: bool):
    """A feature-metric pose as certain as the PnP pose, moved from it along a random direction by a squared Mahalanobis
    distance (under the PnP covariance) of 8: the two disagree by 4 under the sum of their covariances and the pose
    returned is halfway; by 60 (30 > 16.81, chi-square's 99 % quantile with 6 degrees of freedom) the PnP pose is."""
    camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=640, height=480, params=[500.0, 320.0, 240.0])
    rng = np.random.default_rng(0)
    xyz = rng.uniform([-1, -1, 4], [1, 1, 6], (60, 3))
    pixels = 500 * xyz[:, :2] / xyz[:, 2:] + [320, 240] + rng.normal(0, 0.5, (60, 2))
    pnp = pycolmap.estimate_and_refine_absolute_pose(
        pixels, xyz, camera, estimation_options={"ransac": {"max_error": 12}}
    )
    covariance = pose_covariance(pnp["cam_from_world"], camera, pixels, xyz)
    direction = np.linalg.cholesky(covariance) @ rng.normal(size=6)
    delta = direction * np.sqrt(chi2 / (direction @ np.linalg.solve(covariance, direction)))
    moved = pose_moved(pnp["cam_from_world"], delta)
    refiner = SimpleNamespace(conf=RefineConf(), refine=lambda *args: (moved, covariance, {"accepted": True}))
    matches = (pixels, np.arange(60))
    conf = LocalizeConf()
    pose, log = localize.refine_pnp_pose(refiner, "q", camera, pnp, ["db"], matches, SimpleNamespace(xyz=xyz), conf)
    assert log["pose_change_chi2"] == pytest.approx(chi2 / 2, rel=1e-6)
    assert log["position_std_fused"] == pytest.approx(log["position_std_featuremetric"] / np.sqrt(2), rel=1e-6)
    assert log["num_inliers_after"] == log["num_inliers_before"] == 60  # only the disagreement decides
    assert log["accepted"] == accepted
    if accepted:
        assert np.allclose(pose_change(pnp["cam_from_world"], pose), delta / 2, rtol=1e-6, atol=1e-12)
    else:
        assert pose is pnp["cam_from_world"] and "the feature-metric and PnP poses disagree" in log["failure_reason"]


def localize_with_prior_focal(synthetic_map: dict[str, Path], out: Path, *options: str) -> tuple[dict, dict]:
    """Localize the night queries with their focal length (500 px) replaced by priors 0.6x and 1.5x off, marked as
    priors beside the queries file: the log and each query's position and rotation errors."""
    cameras = read_queries(synthetic_map["queries"])
    for number, camera in enumerate(cameras.values()):
        camera.params = [camera.params[0] * (0.6, 1.5)[number % 2], *camera.params[1:]]
    queries = out / "queries.txt"
    write_queries(queries, cameras)
    write_intrinsics_sources(queries, dict.fromkeys(cameras, "prior"))
    inputs = astuple(localization_inputs(synthetic_map, queries=queries))
    result = CliRunner().invoke(app, ["localize", *map(str, inputs), str(out / "results.txt"), *options])
    assert result.exit_code == 0, result.output
    truth = read_poses(synthetic_map["ground_truth"])
    errors = {name: pose_errors(pose, truth[name]) for name, pose in read_poses(out / "results.txt").items()}
    return json.loads(log_path(out / "results.txt").read_text()), errors


def test_focal_length_of_a_prior_is_estimated_with_the_pose(synthetic_map: dict[str, Path], tmp_path: Path):
    """Priors 0.6x and 1.5x the true focal length: PnP with the focal length unknown finds it within 3% and the pose
    within 2% of the scene extent and 1 degree (one query of 16 inliers is rejected: with the focal length unknown, its
    position std is 0.18 of the distance, 0.016 with it known); with estimation off, every pose is flagged unreliable
    and they are metres off."""
    points = np.array([p.xyz for p in pycolmap.Reconstruction(synthetic_map["model"]).points3D.values()])
    extent = np.linalg.norm(np.percentile(points, 98, axis=0) - np.percentile(points, 2, axis=0))
    log, errors = localize_with_prior_focal(synthetic_map, tmp_path)
    localized = {entry["name"]: entry for entry in log["queries"] if entry["success"]}
    reliable = [name for name, entry in localized.items() if "unreliable" not in entry]
    assert len(localized) == len(errors) and len(reliable) >= 10
    assert log["summary"]["num_unreliable"] == len(localized) - len(reliable)
    for name, entry in localized.items():
        intrinsics = entry["intrinsics"]
        assert intrinsics["source"] == "estimated" and intrinsics["initial_source"] == "prior"
        assert intrinsics["initial_focal_length"] in (300, 750)
        if name in reliable:
            assert intrinsics["focal_length"] == pytest.approx(500, rel=0.03)
            assert intrinsics["focal_length_std_relative"] <= 0.05
            assert errors[name][0] < 0.02 * extent and errors[name][1] < 1.0
        else:
            assert entry["unreliable"].startswith("the inliers do not determine the focal length")
    (tmp_path / "off").mkdir()
    log, errors = localize_with_prior_focal(synthetic_map, tmp_path / "off", "--set", "estimate_focal_length=false")
    localized = [entry for entry in log["queries"] if entry["success"]]
    assert log["summary"]["num_unreliable"] == len(localized) > 0
    assert all(entry["unreliable"].startswith("the focal length is a prior") for entry in localized)
    assert np.median([translation for translation, _ in errors.values()]) > 0.02 * extent


def test_refinement_outcomes_count_each_reason_without_its_numbers():
    logs = [
        {"refinement": {"accepted": True}},
        {"refinement": {"accepted": True}},
        {
            "refinement": {
                "accepted": False,
                "failure_reason": "the feature-metric and PnP poses disagree (chi2 30.7 > 16.8); PnP pose kept",
            }
        },
        {
            "refinement": {
                "accepted": False,
                "failure_reason": "the feature-metric and PnP poses disagree (chi2 449 > 16.8); PnP pose kept",
            }
        },
        {"refinement": {"accepted": False, "failure_reason": "refinement lost 2D-3D inliers; PnP pose kept"}},
        {"refinement": {"accepted": False, "failure_reason": "only 12 model points visible in the query"}},
        {"success": False},  # not localized: nothing to refine
    ]
    assert localize.refinement_outcomes(logs) == {
        "fused": 2,
        "the feature-metric and PnP poses disagree": 2,
        "refinement lost 2D-3D inliers": 1,
        "only N model points visible in the query": 1,
    }
