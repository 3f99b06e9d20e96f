"""pipelines/inloc.sh on a fake InLoc (tests/fake_inloc.py): the server's file names every query once by file name,
and the queries land on the rendered poses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import fake_inloc
import numpy as np
import pycolmap
import pytest
from helpers import check_submission, run_recipe

from vloc.geometry.rigid3d import pose_errors


@pytest.fixture(scope="module")
def inloc_run(benchmark_scene: Path, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("inloc_data")
    truth = fake_inloc.build(benchmark_scene, root)
    out = tmp_path_factory.mktemp("inloc_out")
    stdout = run_recipe("inloc.sh", out, None, str(root), LEARNED="0")
    return {"root": root, "truth": truth, "out": out, "stdout": stdout}


def submitted_poses(path: Path) -> dict[str, pycolmap.Rigid3d]:
    rows = check_submission(path, [Path(fake_inloc.query_name(k)).name for k in range(1, 12, 2)])
    return {name: pycolmap.Rigid3d(pycolmap.Rotation3d(np.r_[row[1:4], row[0]]), row[4:]) for name, row in rows.items()}


def test_submission_names_every_query_once_and_localizes_them(inloc_run: dict):
    poses = submitted_poses(inloc_run["out"] / "InLoc_vloc_sift-nn-ratio.txt")
    truth = {Path(name).name: pose for name, pose in inloc_run["truth"].items() if name.startswith("query/")}
    errors = [pose_errors(poses[name], truth[name]) for name in poses]
    # The 28 mm rule gives the 480 px renders 373.3 px for their 375: a 0.4 % focal error, about 5 cm at the 10-20 m
    # the queries see (InLoc's finest threshold is 25 cm, 10 degrees).
    localized = [dt < 0.15 and dr < 1 for dt, dr in errors]
    assert sum(localized) >= 5, errors
    log = json.loads((inloc_run["out"] / "results-sift-nn-ratio_log.json").read_text())
    assert sum(query["success"] for query in log["queries"]) >= 5
    assert "InLoc, sift + nn-ratio" in inloc_run["stdout"] and "aliked" not in inloc_run["stdout"]


def test_the_map_holds_the_matched_keypoints_of_the_paired_cutouts(inloc_run: dict):
    model = pycolmap.Reconstruction(inloc_run["out"] / "model-sift-nn-ratio")
    pairs = (inloc_run["out"] / "pairs-query-vlad40.txt").read_text().split()
    assert {image.name for image in model.images.values() if image.num_points2D()} == set(pairs[1::2])
    assert model.num_points3D() > 300


def localized_near_truth(poses: dict[str, pycolmap.Rigid3d], inloc_run: dict) -> int:
    """How many submitted queries lie within (0.15 m, 1 deg) of the rendered truth."""
    truth = {Path(name).name: pose for name, pose in inloc_run["truth"].items() if name.startswith("query/")}
    return sum(dt < 0.15 and dr < 1 for dt, dr in (pose_errors(poses[name], truth[name]) for name in poses))


def test_pairs_from_a_file_and_the_learned_configuration(inloc_run: dict, tmp_path: Path):
    """PAIRS=file (hloc's naming) replaces retrieval: on a copy of the run (its features and matches are reused), the
    map holds the cutouts of those pairs alone, and the submission is complete again. The recipe then runs ALIKED +
    LightGlue, whose weights CI installs (`vloc weights aliked lightglue` passes): the learned branch of the benchmark
    recipes. Measured: 6 of 6 queries near the truth with either configuration."""
    pairs = tmp_path / "pairs-query-netvlad40-temporal.txt"
    nearest = {k: [k - 1, k + 1] if k < 11 else [k - 3, k - 1] for k in range(1, 12, 2)}  # the cutouts either side
    pairs.write_text(
        "".join(f"{fake_inloc.query_name(k)} {fake_inloc.cutout_name(c)}\n" for k in nearest for c in nearest[k])
    )
    out = tmp_path / "out"
    shutil.copytree(inloc_run["out"], out)
    (out / "InLoc_vloc_sift-nn-ratio.txt").unlink()
    stdout = run_recipe("inloc.sh", out, None, str(inloc_run["root"]), PAIRS=str(pairs))
    model = pycolmap.Reconstruction(out / "model-sift-nn-ratio")
    paired = {fake_inloc.cutout_name(c) for cutouts in nearest.values() for c in cutouts}
    assert {image.name for image in model.images.values() if image.num_points2D()} == paired
    assert localized_near_truth(submitted_poses(out / "InLoc_vloc_sift-nn-ratio.txt"), inloc_run) >= 5
    assert "InLoc, aliked + lightglue" in stdout
    assert localized_near_truth(submitted_poses(out / "InLoc_vloc_aliked-lightglue.txt"), inloc_run) >= 5
