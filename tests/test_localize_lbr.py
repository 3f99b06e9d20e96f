"""vloc localize --method lbr: instance-guided candidate groups, matched on demand, early exit,
co-visibility refinement."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from helpers import assert_one_line_error, localization_inputs, random_matches
from typer.testing import CliRunner

from vloc.cli import app
from vloc.evaluate.poses import evaluate
from vloc.io.features import FeatureReader
from vloc.io.groups import CandidateGroup, groups_path, write_groups
from vloc.io.matches import MatchReader
from vloc.io.model import read_model
from vloc.io.text import log_path, read_pairs, read_poses, read_queries
from vloc.localize import hierarchical as localize
from vloc.localize import lbr as localize_lbr
from vloc.match import local_features as match
from vloc.matchers.instance_nn import InstanceNNConf
from vloc.matchers.pair_matcher import conf_by_name as match_conf
from vloc.pnp.absolute_pose import LocalizeConf, correspondences, count_inliers
from vloc.pnp.map_index import MapIndex


def run_lbr(inputs: dict[str, Path], results: Path, matches: Path) -> dict:
    localize_lbr.main(
        localize_lbr.LbrConf(covisibility_refinement=True),
        match_conf("nnml"),
        localization_inputs(inputs, pairs=inputs["pairs_instances"], matches=matches),
        results,
        labels=[inputs["instances"], inputs["recognitions"]],
    )
    return json.loads(log_path(results).read_text())


def test_lbr_localizes_night_queries_with_early_exit(lbr_inputs: dict[str, Path], tmp_path: Path):
    log = run_lbr(lbr_inputs, tmp_path / "results.txt", tmp_path / "matches.h5")
    thresholds = json.loads((lbr_inputs["root"] / "dataset.json").read_text())["thresholds"]
    truth = read_poses(lbr_inputs["ground_truth"])
    lbr = evaluate(read_poses(tmp_path / "results.txt"), truth, thresholds)["groups"]["all"]
    # hierarchical localization against every mapping image (exhaustive pairs) is the reference
    localize.main(LocalizeConf(), localization_inputs(lbr_inputs), tmp_path / "results-hloc.txt")
    hloc = evaluate(read_poses(tmp_path / "results-hloc.txt"), truth, thresholds)["groups"]["all"]
    assert lbr["recall_percent"][0] >= 80 and lbr["recall_percent"][-1] >= hloc["recall_percent"][-1] - 10
    summary = log["summary"]
    assert summary["mean_pairs_matched"] <= 3.5  # of a budget of 6 per query (12 with exhaustive pairs)
    assert summary["num_early_exits"] >= 0.8 * summary["num_queries"]
    first = log["queries"][0]
    assert first["groups_tried"][0]["instance"] is not None and first["covisibility_refinement"]["rounds"]
    # a second run finds every pair it needs in the matches file and gives the same poses
    again = run_lbr(lbr_inputs, tmp_path / "again.txt", tmp_path / "matches.h5")
    assert all(q["num_pairs_matched_now"] == 0 for q in again["queries"])
    assert (tmp_path / "again.txt").read_text() == (tmp_path / "results.txt").read_text()


def test_early_exit_needs_a_well_determined_position(lbr_inputs: dict[str, Path], tmp_path: Path):
    """Groups are accepted only under the position-uncertainty bound, and the accepted group gives the pose even where
    an earlier, rejected one had more inliers; with a bound of 0 no group ends the search, so every group's pairs are
    matched and the pooled images are tried last."""
    inputs = lbr_inputs
    query_inputs = localization_inputs(inputs, pairs=inputs["pairs_instances"], matches=tmp_path / "m.h5")
    labels = [inputs["instances"], inputs["recognitions"]]

    def run(results: str, **conf) -> dict:
        localize_lbr.main(
            localize_lbr.LbrConf(**conf), match_conf("nnml"), query_inputs, tmp_path / results, labels=labels
        )
        return json.loads(log_path(tmp_path / results).read_text())

    strict = run("strict.txt", accept_inliers=50, accept_max_position_std=0.0006)
    overtaken = 0
    for query in strict["queries"]:
        tried = query["groups_tried"]
        assert all(g["position_std_relative"] <= 0.0006 and g["num_inliers"] >= 50 for g in tried if g["accepted"])
        if query.get("early_exit"):
            assert query["accepted_group"] == len(tried) - 1 and tried[-1]["accepted"]
            assert query["num_inliers"] == tried[-1]["num_inliers"]
            overtaken += any(g["num_inliers"] > query["num_inliers"] for g in tried[:-1])
    assert strict["summary"]["num_early_exits"] > 0 and overtaken > 0  # the fixture exercises both cases
    default = run("default.txt")
    never = run("never.txt", accept_max_position_std=0)
    assert never["summary"]["num_early_exits"] == 0
    for query in never["queries"]:
        assert query["num_pairs_matched"] == len({n for g in query["groups_tried"] for n in g["db_images"]})
        assert query["groups_tried"][-1].get("pooled") or query["num_groups"] == 1
    assert never["summary"]["num_localized"] >= default["summary"]["num_localized"]


def test_lbr_bad_inputs_are_one_line_errors(lbr_inputs: dict[str, Path], tmp_path: Path):
    inputs = lbr_inputs
    arguments = [
        str(inputs["model"]),
        str(inputs["queries"]),
        str(inputs["pairs_query"]),
        str(inputs["features"]),
        str(tmp_path / "m.h5"),
        str(tmp_path / "r.txt"),
        "--method",
        "lbr",
    ]
    result = CliRunner().invoke(app, ["localize", *arguments])
    assert_one_line_error(result, "pairs-query.groups.json", "not found")
    broken = tmp_path / "pairs.txt"
    broken.write_text("")
    groups_path(broken).write_text(
        groups_path(inputs["pairs_instances"]).read_text().replace("day/frame_000", "day/nowhere")
    )
    arguments[2] = str(broken)
    result = CliRunner().invoke(
        app, ["localize", *arguments, "--labels", str(inputs["instances"]), "--labels", str(inputs["recognitions"])]
    )
    assert_one_line_error(result, "day/nowhere.png", "not in the model")
    arguments[2] = str(inputs["pairs_instances"])
    result = CliRunner().invoke(app, ["localize", *arguments])
    assert_one_line_error(result, "needs instance labels")
    assert not (tmp_path / "r.txt").exists()


def test_lbr_rejects_poses_from_random_2d3d_matches(synthetic_map: dict[str, Path], tmp_path: Path):
    """One group of all 12 paired images per query, 1200 random 2D-3D matches: PnP finds 12 or more inliers, and the
    inlier-ratio test rejects every such pose; no query is localized and the log says why."""
    matches = random_matches(synthetic_map, tmp_path / "random.h5", per_pair=100)
    by_query: dict[str, list[str]] = {}
    for query, db_name in read_pairs(synthetic_map["pairs_query"]):
        by_query.setdefault(query, []).append(db_name)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(synthetic_map["pairs_query"].read_text())
    write_groups(groups_path(pairs), {query: [CandidateGroup(names, instance=1)] for query, names in by_query.items()})
    inputs = localization_inputs(synthetic_map, pairs=pairs, matches=matches)
    localize_lbr.main(localize_lbr.LbrConf(), match_conf("nn-ratio"), inputs, tmp_path / "results.txt")
    log = json.loads(log_path(tmp_path / "results.txt").read_text())
    assert log["summary"]["num_localized"] == 0 and log["summary"]["num_rejected"] == 12
    assert read_poses(tmp_path / "results.txt") == {}
    for query in log["queries"]:
        (group,) = query["groups_tried"]
        assert group["num_matches_2d3d"] == 1200 and group["num_inliers"] >= 12 and not group["accepted"]
        assert group["rejection"] == f"inlier ratio {group['num_inliers'] / 1200:.3f} < 0.1 (min_inlier_ratio)"
        assert not query["success"] and query["rejected"] and query["failure_reason"] == group["rejection"]


def ground_truth_inlier_ratio(inputs: dict[str, Path], matches: Path) -> float:
    """Fraction of the 2D-3D matches of the query pairs that reproject within 4 px under the true query poses."""
    cameras, truth = read_queries(inputs["queries"]), read_poses(inputs["ground_truth"])
    index = MapIndex(read_model(inputs["model"], need_points=True))
    total = correct = 0
    with FeatureReader(inputs["features"]) as features, MatchReader(matches) as reader:
        for query, db_name in read_pairs(inputs["pairs_query"]):
            points2D, point_indices = correspondences(query, db_name, index, features.keypoints(query), reader)
            total += len(points2D)
            correct += count_inliers(truth[query], cameras[query], points2D, index.xyz[point_indices], 4.0)
    return correct / total


def test_instancewise_matching_has_a_higher_inlier_ratio_than_mutual_nn(lbr_inputs: dict[str, Path], tmp_path: Path):
    labels = [lbr_inputs["instances"], lbr_inputs["recognitions"]]
    nnml = replace(match_conf("nnml"), model=InstanceNNConf(ratio_threshold=None))
    match.main(nnml, lbr_inputs["pairs_query"], lbr_inputs["features"], tmp_path / "nnml.h5", labels=labels)
    match.main(match_conf("nn-mutual"), lbr_inputs["pairs_query"], lbr_inputs["features"], tmp_path / "mnn.h5")
    instancewise, plain = (ground_truth_inlier_ratio(lbr_inputs, tmp_path / f"{m}.h5") for m in ("nnml", "mnn"))
    assert instancewise >= plain + 0.1, (instancewise, plain)
