"""Sparse-to-dense matching: sub-pixel hits on a known shift, night queries localized against a day map, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from helpers import assert_one_line_error, localization_inputs, textured_image
from typer.testing import CliRunner

from vloc.cli import app
from vloc.dense.pyramid import build_backbone, conf_by_name, pyramid_of
from vloc.evaluate.poses import evaluate
from vloc.extract import dense_features as extract_dense
from vloc.geometry.camera import Camera
from vloc.geometry.pose import Pose
from vloc.io.features import FeatureReader
from vloc.io.matches import MatchReader
from vloc.io.model import read_model
from vloc.io.text import read_pairs, read_poses, read_queries
from vloc.localize import hierarchical as localize
from vloc.match import sparse_to_dense
from vloc.pnp.absolute_pose import LocalizeConf
from vloc.pnp.map_index import MapIndex


def test_hits_follow_a_known_subpixel_shift():
    image = textured_image(seed=5, width=320, height=240)
    shift = np.array([7.3, -4.6])
    shifted = cv2.warpAffine(image, np.array([[1, 0, shift[0]], [0, 1, shift[1]]]), (320, 240), flags=cv2.INTER_CUBIC)
    backbone = build_backbone(conf_by_name("dsift"))
    database, query = (pyramid_of(backbone, im, np.ones(2)) for im in (image, shifted))
    grid = np.stack(np.meshgrid(np.arange(40, 280, 12), np.arange(40, 200, 12)), -1).reshape(-1, 2) + 0.5
    keypoints = torch.tensor(grid, dtype=torch.float32)
    descriptors = [sparse_to_dense.describe(level, keypoints) for level in database]
    conf = sparse_to_dense.SparseToDenseConf()
    hits, _, accepted = sparse_to_dense.match_pair(query, descriptors, conf, database[2], keypoints)
    errors = (hits - keypoints - torch.tensor(shift, dtype=torch.float32)).norm(dim=1)[accepted]
    print(
        f"{int(accepted.sum())} of {len(keypoints)} accepted, median error {errors.median():.3f} px, "
        f"max {errors.max():.3f}"
    )
    assert accepted.float().mean() > 0.7  # measured 0.79 (points in flat texture fail the ratio test)
    assert errors.median() < 0.25 and errors.max() < 1  # measured 0.18 and 0.94 px
    coarse = sparse_to_dense.match_pair(
        query, descriptors, sparse_to_dense.SparseToDenseConf(subcell=False), database[2], keypoints
    )[0]
    # without the parabola fit, hits snap to whole pixels: 0.3 and 0.4 px off on each axis here
    assert (coarse - keypoints - torch.tensor(shift)).norm(dim=1)[accepted].median() > 0.3


def test_night_queries_localize_from_sparse_to_dense_matches(synthetic_map: dict[str, Path], tmp_path: Path):
    keypoints, matches = tmp_path / "feats-s2d.h5", tmp_path / "matches-s2d.h5"
    result = CliRunner().invoke(
        app,
        [
            "match",
            "sparse-to-dense",
            str(synthetic_map["pairs_query"]),
            str(synthetic_map["model"]),
            str(keypoints),
            str(matches),
            "--images",
            str(synthetic_map["images"]),
        ],
    )
    assert result.exit_code == 0, result.output
    results = localize.main(
        LocalizeConf(ransac_max_error=4),
        localization_inputs(synthetic_map, features=keypoints, matches=matches),
        tmp_path / "results.txt",
    )
    thresholds = json.loads((synthetic_map["root"] / "dataset.json").read_text())["thresholds"]
    report = evaluate(read_poses(results), read_poses(synthetic_map["ground_truth"]), thresholds)["groups"]["all"]
    print(report)
    # measured 66.7 / 91.7 / 91.7 % (SIFT matching: 91.7 / 91.7 / 91.7 %), one query failed: dense SIFT is not
    # a night-robust descriptor (a trained one is issue 6's job)
    assert report["num_failed"] <= 1 and report["recall_percent"][1] >= 83
    # the hits land where the ground-truth pose projects the matched map points
    index = MapIndex(read_model(synthetic_map["model"], need_points=True))
    cameras, truth = read_queries(synthetic_map["queries"]), read_poses(synthetic_map["ground_truth"])
    errors = []
    with FeatureReader(keypoints) as reader, MatchReader(matches) as match_reader:
        for query, db_name in read_pairs(synthetic_map["pairs_query"]):
            pairs, _ = match_reader.read(query, db_name)
            points = torch.from_numpy(index.xyz[index.keypoint_points(db_name)[pairs[:, 1]]])
            projected, _ = Camera.from_pycolmap(cameras[query]).project(
                Pose.from_pycolmap(truth[query]).transform(points)
            )
            errors.append(np.linalg.norm(reader.keypoints(query)[pairs[:, 0]] + 0.5 - projected.numpy(), axis=1))
    errors = np.concatenate(errors)
    print(f"{len(errors)} hits, {np.mean(errors < 2):.3f} within 2 px, median {np.median(errors):.3f} px")
    # measured 1874 hits, 56 % within 2 px, median 1.07 px (all pairs are exhaustive: some database images do not
    # overlap the query at all, and night images blur the descriptors)
    assert len(errors) > 1000 and np.mean(errors < 2) > 0.5 and np.median(errors) < 1.3


def test_bad_sparse_to_dense_inputs(synthetic_map: dict[str, Path], tmp_path: Path):
    runner = CliRunner()
    base = ["match", "sparse-to-dense", str(synthetic_map["pairs_query"]), str(synthetic_map["model"])]
    options = ["--images", str(synthetic_map["images"])]
    # the query keypoints would replace extracted features
    result = runner.invoke(app, [*base, str(synthetic_map["features"]), str(tmp_path / "m.h5"), *options])
    assert_one_line_error(result, str(synthetic_map["features"]), "holds extracted features")
    # a pair naming an image absent from the model
    pairs = tmp_path / "pairs.txt"
    query, db_name = synthetic_map["pairs_query"].read_text().split("\n")[0].split()
    pairs.write_text(f"{query} {db_name}\n{query} day/absent.png\n")
    base = ["match", "sparse-to-dense", str(pairs), str(synthetic_map["model"])]
    result = runner.invoke(app, [*base, str(tmp_path / "k.h5"), str(tmp_path / "m.h5"), *options])
    assert_one_line_error(result, str(pairs), "day/absent.png", "not in the model")
    # dense features missing for the query
    pairs.write_text(f"{query} {db_name}\n")
    (tmp_path / "list.txt").write_text(db_name + "\n")
    dense = extract_dense.main(
        conf_by_name("dsift"), synthetic_map["images"], tmp_path / "dense.h5", tmp_path / "list.txt"
    )
    result = runner.invoke(app, [*base, str(tmp_path / "k.h5"), str(tmp_path / "m.h5"), "--dense", str(dense)])
    assert_one_line_error(result, str(dense), "no dense features for image", query)
    assert not (tmp_path / "k.h5").exists() and not (tmp_path / "m.h5").exists()
