"""Sacre Coeur photos: SfM then leave-one-out (sacre_coeur.sh), and a person's own photos (own_photos.sh)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pycolmap
from helpers import PIPELINES, overall, recipe_environment, run_recipe
from typer.testing import CliRunner

from vloc.cli import app
from vloc.geometry.rigid3d import pose_errors
from vloc.io.text import log_path, read_poses


def test_sacre_coeur_sfm_then_leave_one_out(shared_data: Path, tmp_path: Path):
    stdout = run_recipe("sacre_coeur.sh", tmp_path, shared_data)
    model = pycolmap.Reconstruction(tmp_path / "sfm")
    assert model.num_reg_images() == 10
    # the same model again from the same matches (with 2 threads, bundle adjustment gave another one on each run)
    files = [tmp_path / name for name in ("pairs-exhaustive.txt", "feats-sift.h5", "matches.h5", "again")]
    images = shared_data / "hloc_sacre_coeur" / "mapping"
    assert CliRunner().invoke(app, ["sfm", str(images), *map(str, files)]).exit_code == 0
    again = pycolmap.Reconstruction(tmp_path / "again")
    for image in model.images.values():
        same = again.find_image_with_name(image.name).cam_from_world().matrix()
        assert np.array_equal(image.cam_from_world().matrix(), same), image.name
    assert model.compute_mean_reprojection_error() < 1.5
    result = overall(tmp_path / "evaluation.json")
    assert result["num_queries"] == 10 and result["num_failed"] == 0
    # leave-one-out poses against the full SfM model (model units): median measured 0.0018 units, 0.018 deg
    # (camera centres span about 9 units)
    assert result["median_rotation_deg"] < 0.5
    assert result["recall_percent"][-1] == 100.0  # at the coarsest threshold (1 unit, 5 deg)
    assert "localization errors" in stdout and "(units)" in stdout  # not metres: an SfM model has no scale

    # feature-metric refinement through the SfM model's SIMPLE_RADIAL camera (one query). The PnP pose's 99% confidence
    # region would keep the PnP pose (the refined one is at chi2 47, for a cost 1.3% lower): the test is off here, to
    # see the camera model work.
    one = tmp_path / "leave_one_out" / "02928139_3448003521"
    refined = one / "results-fm.txt"
    runner = CliRunner()
    command = [
        "localize",
        str(one / "model"),
        str(one / "queries.txt"),
        str(one / "pairs-query.txt"),
        str(tmp_path / "feats-sift.h5"),
        str(tmp_path / "matches.h5"),
        str(refined),
        "--refine",
        "featuremetric",
        "--images",
        str(shared_data / "hloc_sacre_coeur" / "mapping"),
        "--refine-set",
        "max_pose_change_chi2=inf",
    ]
    assert runner.invoke(app, command).exit_code == 0
    log = json.loads(log_path(refined).read_text())["queries"][0]
    assert log["refinement"]["accepted"] and log["refinement"]["pose_change_chi2"] > 16.81
    error_t, error_r = pose_errors(
        read_poses(refined)[log["name"]], model.find_image_with_name(log["name"]).cam_from_world()
    )
    assert error_t < 0.02 and error_r < 0.1  # measured 0.0045 units, 0.038 deg (PnP: 0.0015, 0.012)


def test_own_photos_locates_held_out_sacre_coeur_photos(
    shared_data: Path, sacre_coeur_map: tuple[Path, Path, str], tmp_path: Path
):
    """A map of 8 Sacre Coeur photos, the other 2 located as plain photos (focal length from a 1.2 x prior, estimated),
    against `vloc map` of all 10 aligned by a similarity: the issue's targets, 2% of the scene extent, 1 deg and the
    focal length within 2%. Measured: centres 1.5% and 0.7%, rotations 0.09 and 0.07 deg, focal lengths 0.1% and 0.6%
    below those of the map of all 10 (2932 / 2916 against 2935 / 2933 px; the prior 1214 / 1224)."""
    photos = sorted((shared_data / "hloc_sacre_coeur" / "mapping").glob("*.jpg"))
    for folder, chosen in (("map", photos[:8]), ("queries", photos[8:])):
        (tmp_path / folder).mkdir()
        for photo in chosen:
            (tmp_path / folder / photo.name).symlink_to(photo)
    arguments = [str(tmp_path / folder) for folder in ("map", "queries", "out")]
    completed = subprocess.run(
        ["bash", str(PIPELINES / "own_photos.sh"), *arguments], env=recipe_environment(), capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    stdout = completed.stdout
    assert "2/2 photos localized" in stdout
    assert (tmp_path / "out" / "scene.html").stat().st_size > 1_000_000  # plotly.js inlined
    full = pycolmap.Reconstruction(sacre_coeur_map[1] / "model")
    part = pycolmap.Reconstruction(tmp_path / "out" / "map" / "model")
    full_from_part = pycolmap.align_reconstructions_via_proj_centers(part, full, 0.5)
    points = np.array([p.xyz for p in full.points3D.values()])
    extent = np.linalg.norm(np.percentile(points, 98, axis=0) - np.percentile(points, 2, axis=0))
    log = json.loads((tmp_path / "out" / "located" / "results_log.json").read_text())
    for entry in log["queries"]:
        truth = full.find_image_with_name(entry["name"])
        pose = read_poses(tmp_path / "out" / "located" / "results.txt")[entry["name"]]
        centre = full_from_part * (pose.inverse().translation)
        rotation = pose.rotation.matrix() @ full_from_part.rotation.matrix().T
        angle = np.degrees(
            np.arccos(np.clip((np.trace(rotation @ truth.cam_from_world().rotation.matrix().T) - 1) / 2, -1, 1))
        )
        assert np.linalg.norm(centre - truth.projection_center()) < 0.02 * extent and angle < 1.0
        focal = full.cameras[truth.camera_id].mean_focal_length()
        assert entry["intrinsics"]["source"] == "estimated" and "unreliable" not in entry
        assert abs(entry["intrinsics"]["focal_length"] / focal - 1) < 0.02
        assert abs(entry["intrinsics"]["initial_focal_length"] / focal - 1) > 0.5
