"""Pair evaluation: relative-pose AUC, precision and matching score on a synthetic pair whose truth is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pycolmap
import pytest
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.cli import app
from vloc.evaluate.pairs import PairEvaluationConf, main
from vloc.geometry.relative_pose import pose_auc
from vloc.io.features import Features, write_features
from vloc.io.h5 import atomic_writer
from vloc.io.matches import write_matches
from vloc.io.model import build_posed_model, write_model


def test_pose_auc_integrates_the_recall_curve_up_to_each_threshold():
    # errors 1 and 3 deg and one failure: recall 1/3 from 1 deg, 2/3 from 3 deg; trapezoids up to 5 deg give 2.5 / 5
    assert pose_auc(np.array([3.0, np.inf, 1.0]), (5.0, 2.0)) == pytest.approx([50.0, 25.0])
    assert pose_auc(np.zeros(4), (5.0,)) == [100.0]
    assert pose_auc(np.full(3, np.inf), (5.0,)) == [0.0]


def synthetic_pair(root: Path, num_points: int = 200, unmatched: int = 50, outlier_share: float = 0.0) -> dict:
    """Two views of random points 4-8 units away (0.5 units apart, turned 5 deg), their exact keypoints (and
    `unmatched` extra ones in the first view), matches with `outlier_share` of them re-paired at random, the posed
    model; file paths."""
    rng = np.random.default_rng(0)
    camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=640, height=480, params=[500.0, 320.0, 240.0])
    poses = {
        "a.png": pycolmap.Rigid3d(),
        "b.png": pycolmap.Rigid3d(pycolmap.Rotation3d(np.radians([0.0, 5.0, 1.0])), np.array([-0.5, 0.05, 0.1])),
    }
    pixels = rng.uniform([40, 40], [600, 440], (num_points, 2))
    points = np.hstack([(pixels - [320, 240]) / 500, np.ones((num_points, 1))]) * rng.uniform(4, 8, (num_points, 1))
    keypoints = {name: camera.img_from_cam(pose * points) - 0.5 for name, pose in poses.items()}  # hloc's pixels
    keypoints["a.png"] = np.vstack([keypoints["a.png"], rng.uniform([0, 0], [640, 480], (unmatched, 2))])
    matches0 = np.full(num_points + unmatched, -1)
    matches0[:num_points] = np.arange(num_points)
    outliers = rng.choice(num_points, int(round(outlier_share * num_points)), replace=False)
    matches0[outliers] = (outliers + num_points // 2) % num_points  # another point's keypoint, far from the line
    paths = {"features": root / "feats.h5", "matches": root / "matches.h5", "model": root / "model"}
    with atomic_writer(paths["features"], resume=False) as handle:
        for name, points2D in keypoints.items():
            descriptors = np.zeros((8, len(points2D)), np.float32)
            write_features(handle, name, Features(points2D, descriptors, np.ones(len(points2D)), np.array([640, 480])))
    with atomic_writer(paths["matches"], resume=False) as handle:
        write_matches(handle, "a.png", "b.png", matches0, np.ones(len(matches0)))
    write_model(build_posed_model(dict.fromkeys(poses, camera), poses), paths["model"])
    (root / "pairs.txt").write_text("a.png b.png\n")
    return paths | {"pairs": root / "pairs.txt"}


@pytest.mark.parametrize("outlier_share", [0.0, 0.3])
def test_exact_matches_give_auc_100_and_outliers_their_share_of_precision(tmp_path: Path, outlier_share: float):
    paths = synthetic_pair(tmp_path, outlier_share=outlier_share)
    report = main(PairEvaluationConf(), paths["pairs"], paths["features"], paths["matches"], paths["model"])
    pair = report["pairs"]["a.png b.png"]
    assert pair["num_matches"] == 200 and pair["num_correct"] == 200 - round(60 * outlier_share / 0.3)
    assert pair["precision"] == pytest.approx(1 - outlier_share)
    assert pair["matching_score"] == pytest.approx(pair["num_correct"] / 250)  # per keypoint of the first image
    if outlier_share == 0:
        assert pair["pose_error_deg"] < 1e-3 and all(auc > 99.9 for auc in report["summary"]["auc_percent"].values())
    else:  # a re-paired keypoint or two fall within RANSAC's 1 px of their epipolar lines, and pull the pose a little
        assert pair["num_inliers"] >= 140 and pair["pose_error_deg"] < 1.0, pair


def test_cli_writes_the_report_and_names_an_image_without_ground_truth(tmp_path: Path):
    paths = synthetic_pair(tmp_path)
    out = tmp_path / "report.json"
    arguments = [str(paths[key]) for key in ("pairs", "features", "matches", "model")]
    result = CliRunner().invoke(app, ["evaluate", "pairs", *arguments, "--out-json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["summary"]["num_pairs"] == 1
    (tmp_path / "pairs.txt").write_text("a.png c.png\n")
    result = CliRunner().invoke(app, ["evaluate", "pairs", *arguments])
    assert_one_line_error(result, "pairs.txt", "'c.png' has no camera and pose in")


def test_matches_made_from_other_features_are_a_one_line_error(tmp_path: Path):
    """Features extracted again with fewer keypoints, the matches kept: indices past the keypoints are named."""
    paths = synthetic_pair(tmp_path)
    with atomic_writer(paths["features"], resume=True) as handle:  # image b with half of its keypoints
        write_features(
            handle, "b.png", Features(np.zeros((100, 2)), np.zeros((8, 100)), np.ones(100), np.array([640, 480]))
        )
    arguments = [str(paths[key]) for key in ("pairs", "features", "matches", "model")]
    result = CliRunner().invoke(app, ["evaluate", "pairs", *arguments])
    assert_one_line_error(result, "matches.h5: matches of (a.png, b.png) index keypoints beyond the 250 and 100 given")
