"""vloc localize-scr: poses from a trained scene coordinate network, accepted only with enough inliers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.cli import app
from vloc.errors import ConfigError
from vloc.geometry.rigid3d import pose_errors
from vloc.io.model import read_model
from vloc.io.text import read_poses
from vloc.localize import scr
from vloc.models.checkpoint import save_checkpoint
from vloc.models.scr import SceneCoordinateNetwork, SCRConf


def test_trained_network_localizes_its_frames_and_no_wrong_pose(scr_scene: Path, scr_run: Path, tmp_path: Path):
    # trained on the day frames: those are localized; the night frames (a domain it never saw) must not be wrongly
    results = scr.main(
        scr.SCRLocalizeConf(), scr_run / "scr.pt", scr_scene / "queries.txt", scr_scene / "images", tmp_path / "r.txt"
    )
    poses = read_poses(results)
    truth = {image.name: image.cam_from_world() for image in read_model(scr_scene / "model").images.values()}
    assert {name for name in poses if name.startswith("day/")} == {f"day/frame_00{k}.png" for k in range(3)}
    for name, pose in poses.items():
        translation, rotation = pose_errors(pose, truth[name])
        assert translation < 2.0 and rotation < 5.0, name  # metres and degrees, in a scene some 50 m across
    log = json.loads(results.with_name("r_log.json").read_text())
    assert log["summary"]["num_localized"] == len(poses)
    assert all(q["failure_reason"] for q in log["queries"] if not q["success"])


def test_an_untrained_network_localizes_nothing_and_other_tasks_are_refused(scr_scene: Path, tmp_path: Path):
    untrained = tmp_path / "untrained.pt"
    save_checkpoint(untrained, SceneCoordinateNetwork(SCRConf(widths=(8, 8, 8, 8), channels=8, groups=4)))
    results = scr.main(
        scr.SCRLocalizeConf(), untrained, scr_scene / "queries.txt", scr_scene / "images", tmp_path / "r.txt"
    )
    log = json.loads(results.with_name("r_log.json").read_text())
    assert log["summary"]["num_localized"] == 0 and read_poses(results) == {}
    assert all(not q["success"] and q["failure_reason"] for q in log["queries"])

    depth = tmp_path / "depth.pt"
    save_checkpoint(depth, SceneCoordinateNetwork(SCRConf(task="depth", widths=(8, 8, 8, 8), channels=8, groups=4)))
    with pytest.raises(ConfigError, match="a network of task depth; localization needs one of task coord"):
        scr.main(scr.SCRLocalizeConf(), depth, scr_scene / "queries.txt", scr_scene / "images", tmp_path / "d.txt")
    result = CliRunner().invoke(
        app,
        [
            "localize-scr",
            str(depth),
            str(scr_scene / "queries.txt"),
            str(scr_scene / "images"),
            str(tmp_path / "c.txt"),
        ],
    )
    assert result.exit_code == 1 and "task depth" in result.output and not (tmp_path / "c.txt").exists()


def test_a_query_without_intrinsics_is_a_one_line_error(scr_scene: Path, scr_run: Path, tmp_path: Path):
    queries = tmp_path / "queries.txt"
    first, *_ = (scr_scene / "queries.txt").read_text().splitlines()
    queries.write_text(f"{first}\nnight/frame_001.png\n")
    result = CliRunner().invoke(
        app,
        ["localize-scr", str(scr_run / "scr.pt"), str(queries), str(scr_scene / "images"), str(tmp_path / "r.txt")],
    )
    assert result.exit_code == 1 and "queries.txt:2: expected 'name MODEL width height params...'" in result.output
    assert not (tmp_path / "r.txt").exists()
    name, model, width, height, *params = first.split()
    half = [float(p) / 2 for p in params]  # the intrinsics of the image at half size, given with the full image
    queries.write_text(f"{name} {model} {int(width) // 2} {int(height) // 2} {' '.join(map(str, half))}\n")
    result = CliRunner().invoke(
        app,
        ["localize-scr", str(scr_run / "scr.pt"), str(queries), str(scr_scene / "images"), str(tmp_path / "r.txt")],
    )
    expected = f"query {name} has a {int(width) // 2}x{int(height) // 2} camera, its image"
    assert_one_line_error(result, "queries.txt", expected, f"is {width}x{height}")
    assert not (tmp_path / "r.txt").exists()
