"""Cambridge Landmarks on a fake scene folder in its published formats: ground truth from dataset_*.txt (the same
convention as reconstruction.nvm), intrinsics from the NVM (.jpg names for .png frames), one-line errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from nvm_layouts import cambridge_layout
from typer.testing import CliRunner

from vloc.datasets import CambridgeLandmarks
from vloc.datasets.cambridge import read_poses
from vloc.errors import FormatError, InputError
from vloc.geometry.rigid3d import camera_center, pose_errors
from vloc.io.nvm import read_nvm
from vloc.io.text import read_image_list
from vloc.io.text import read_poses as read_results


@pytest.fixture(scope="module")
def cambridge(benchmark_scene: Path, tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("cambridge") / "ShopFacade"
    return folder, cambridge_layout(benchmark_scene, folder)


def copy_of(cambridge: tuple[Path, dict], tmp_path: Path) -> Path:
    shutil.copytree(cambridge[0], tmp_path / "ShopFacade")
    return tmp_path / "ShopFacade"


def test_train_frames_map_test_frames_query_both_posed_as_rendered(cambridge):
    folder, truth = cambridge
    data = CambridgeLandmarks(folder).load()
    assert data.name == "cambridge-ShopFacade" and data.image_root == folder
    assert data.mapping == list(truth["mapping"]) == [f"seq{s}/frame{i:05d}.png" for s in (1, 3) for i in range(1, 9)]
    assert data.queries == list(truth["queries"]) == [f"seq{s}/frame{i:05d}.png" for s in (2, 4) for i in range(1, 5)]
    for name, expected in (truth["mapping"] | truth["queries"]).items():
        pose = data.poses[name]
        np.testing.assert_allclose(camera_center(pose), camera_center(expected), atol=1e-5)  # six decimals
        np.testing.assert_allclose(pose.rotation.matrix()[2], expected.rotation.matrix()[2], atol=1e-5)  # viewing
    assert data.thresholds == [(0.25, 2.0), (0.5, 5.0), (5.0, 10.0)] and data.submission_names == "as-is"


def test_dataset_lists_and_the_reconstruction_agree_in_convention(cambridge):
    """Both files come from the same poses: the NVM's camera (centre, cam_from_world quaternion) and the list's line
    give the same pose for every frame, read each with its own reader."""
    folder, _ = cambridge
    listed = read_poses(folder / "dataset_train.txt") | read_poses(folder / "dataset_test.txt")
    cameras = read_nvm(folder / "reconstruction.nvm").cameras
    assert len(cameras) == len(listed) == 24
    for camera in cameras:
        dt, dr = pose_errors(listed[camera.name.replace(".jpg", ".png")], camera.cam_from_world)
        assert dt < 1e-5 and dr < 1e-3


def test_intrinsics_are_the_nvm_focal_at_the_image_centre_with_its_distortion(benchmark_scene: Path, tmp_path: Path):
    folder = tmp_path / "KingsCollege"
    cambridge_layout(benchmark_scene, folder, radial=0.02 / 375**2)
    cameras = CambridgeLandmarks(folder).load().cameras
    for camera in cameras.values():
        assert camera.model_name == "SIMPLE_RADIAL" and (camera.width, camera.height) == (480, 360)
        np.testing.assert_allclose(camera.params[:3], [375, 240, 180])
        assert -0.02 < camera.params[3] < -0.019  # COLMAP's k distorts what VisualSFM's undistorts


def test_prepare_writes_the_test_ground_truth(cambridge, tmp_path: Path):
    from vloc.cli import app

    folder, truth = cambridge
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["prepare", "cambridge", str(out), "--root", str(folder)])
    assert result.exit_code == 0, result.output
    assert read_image_list(out / "query_list.txt") == list(truth["queries"])
    ground_truth = read_results(out / "ground_truth.txt")
    for name, expected in truth["queries"].items():
        assert pose_errors(ground_truth[name], expected)[0] < 1e-5


def edit(path: str, old: str, new: str):
    def damage(folder: Path) -> None:
        (folder / path).write_text((folder / path).read_text().replace(old, new, 1))

    return damage


@pytest.mark.parametrize(
    "damage, error, message",
    [
        (edit("reconstruction.nvm", "seq2/frame00004.jpg", "seq3/frame00004.jpg"), InputError, "no camera for seq2/fr"),
        (
            edit("dataset_test.txt", "seq2/frame00002.png ", "seq2/frame00002.png 1 "),
            FormatError,
            "dataset_test.txt:5: ",
        ),
        (edit("dataset_train.txt", "ImageFile", "Image"), FormatError, "dataset_train.txt: not a Cambridge Landmarks"),
        (
            edit("dataset_test.txt", "seq2/frame00003", "seq2/frame00002"),
            FormatError,
            "dataset_test.txt:6: seq2/frame00002",
        ),
        (edit("dataset_test.txt", "seq2/frame00001", "seq1/frame00001"), FormatError, "seq1/frame00001.png is in both"),
        (lambda f: (f / "seq4" / "frame00004.png").unlink(), InputError, "frame00004.png: image not found or not"),
        (
            lambda f: (f / "dataset_train.txt").unlink(),
            InputError,
            "dataset_train.txt: Cambridge Landmarks training list",
        ),
        (lambda f: (f / "reconstruction.nvm").unlink(), InputError, "reconstruction.nvm: Cambridge Landmarks reconstr"),
    ],
)
def test_bad_layouts_fail_in_one_line_naming_the_file(cambridge, tmp_path: Path, damage, error, message: str):
    folder = copy_of(cambridge, tmp_path)
    damage(folder)
    with pytest.raises(error, match=re.escape(message)) as raised:
        CambridgeLandmarks(folder).load()
    assert "\n" not in str(raised.value)
