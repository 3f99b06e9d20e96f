"""7-Scenes adapter: the published layout of a scene (fake, made of the benchmark street), its pose convention and
intrinsics, the pseudo ground truth replacing pose.txt, vloc's subset layout, and bad layouts."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import pytest
from fake_seven_scenes import (
    PGT_FROM_WORLD,
    benchmark_frame,
    benchmark_truth,
    read_pgt,
    seven_scenes_pixel,
    write_fake_dataset,
    write_pose_txt,
    write_pseudo_ground_truth,
)
from helpers import assert_one_line_error, build_once
from typer.testing import CliRunner

from vloc.cli import app
from vloc.datasets import SevenScenes, prepare
from vloc.errors import ConfigError, FormatError
from vloc.geometry.rigid3d import camera_center, pose_errors
from vloc.io.dataset_info import read_dataset_json
from vloc.io.model import model_poses, read_model
from vloc.io.text import read_poses

TRAIN = [f"seq-01/frame-{i:06d}.color.png" for i in range(4)] + [f"seq-03/frame-{i:06d}.color.png" for i in range(4)]
TEST = [f"seq-02/frame-{i:06d}.color.png" for i in range(4)]


@pytest.fixture(scope="module")
def fake(benchmark_scene: Path, tmp_path_factory) -> Path:
    """Fake scenes chess and fire (7scenes/) and their pseudo ground truth (pgt/), shared with the recipe's test."""
    return build_once(tmp_path_factory, "fake_7scenes", lambda folder: write_fake_dataset(benchmark_scene, folder))


@pytest.fixture(scope="module")
def chess(fake: Path):
    return SevenScenes(fake / "7scenes" / "chess").load()


def test_published_scene_maps_train_sequences_and_queries_test_sequences(chess, fake):
    assert chess.mapping == TRAIN and chess.queries == TEST
    assert chess.image_root == fake / "7scenes" / "chess"
    assert chess.name == "7scenes-chess (ground truth seq-XX/frame-XXXXXX.pose.txt)"
    assert (0.05, 5.0) in chess.thresholds and min(chess.thresholds) == (0.02, 2.0)  # the standard one, and finer


def test_published_scene_has_the_colour_camera_intrinsics(chess):
    for name in TRAIN + TEST:
        camera = chess.cameras[name]
        assert camera.model_name == "SIMPLE_PINHOLE" and (camera.width, camera.height) == (640, 480)
        assert list(camera.params) == [525, 320, 240]


def test_pose_txt_is_camera_to_world(chess, benchmark_scene):
    truth = benchmark_truth(benchmark_scene)
    for name in TRAIN + TEST:
        world_from_cam = np.loadtxt(chess.image_root / name.replace(".color.png", ".pose.txt"))
        np.testing.assert_allclose(camera_center(chess.poses[name]), world_from_cam[:3, 3], atol=1e-9)
        viewing_direction = chess.poses[name].rotation.matrix()[2]  # the camera's z axis in the world
        np.testing.assert_allclose(viewing_direction, world_from_cam[:3, 2], atol=1e-6)
        dt, dr = pose_errors(chess.poses[name], truth[benchmark_frame(name)])
        assert dt < 1e-5 and dr < 1e-4


def test_pose_and_intrinsics_project_the_rendered_geometry_onto_its_pixels(chess, benchmark_scene):
    """World points of rendered pixels (their scene coordinates) land on those pixels of the fake's frames."""
    rows, columns = np.mgrid[0:360:23, 0:480:31]
    for name in (TRAIN[1], TEST[2]):
        geometry = np.load(benchmark_scene / "geometry" / f"frame_{benchmark_frame(name):03d}.npz")
        points = geometry["scene_coordinates"][rows, columns].reshape(-1, 3) * 0.1  # the fake's room-sized world
        solid = np.isfinite(points).all(axis=1)
        render_xy = np.stack([columns.ravel() + 0.5, rows.ravel() + 0.5], axis=1)[solid]
        projected = chess.cameras[name].img_from_cam(chess.poses[name] * points[solid])
        assert solid.sum() > 100
        np.testing.assert_allclose(projected, seven_scenes_pixel(render_xy), atol=0.01)


def test_pseudo_ground_truth_replaces_poses_and_focal_length(fake: Path, tmp_path: Path):
    root, pgt = fake / "7scenes" / "chess", fake / "pgt"
    train, test = read_pgt(pgt / "chess_train.txt"), read_pgt(pgt / "chess_test.txt")
    write_pseudo_ground_truth(tmp_path / "chess_train.txt", train, 526.22)  # COLMAP's focal length, as published
    write_pseudo_ground_truth(tmp_path / "chess_test.txt", test, None)  # a file without f keeps 525
    files = (tmp_path / "chess_train.txt", tmp_path / "chess_test.txt")
    data = SevenScenes(root, pgt=files).load()
    assert data.mapping == TRAIN and data.queries == TEST
    assert data.name == f"7scenes-chess (pseudo ground truth {files[0]}, {files[1]})"
    original = SevenScenes(root).load()
    for name, pose in {**train, **test}.items():
        assert max(pose_errors(data.poses[name], pose)) < 1e-5
        assert pose_errors(data.poses[name], original.poses[name])[0] > 1  # pose.txt's world is elsewhere
        expected = original.poses[name] * PGT_FROM_WORLD.inverse()
        assert max(pose_errors(data.poses[name], expected)) < 1e-4
    assert {list(data.cameras[n].params)[0] for n in TRAIN} == {526.22}
    assert {list(data.cameras[n].params)[0] for n in TEST} == {525.0}
    # what `prepare` writes: the reference model and the ground truth in the pseudo ground truth's world
    prepare(SevenScenes(root, pgt=files), tmp_path / "out")
    reference = model_poses(read_model(tmp_path / "out" / "reference"))
    assert max(pose_errors(reference[n], train[n])[0] for n in TRAIN) < 1e-6
    truth = read_poses(tmp_path / "out" / "ground_truth.txt")
    assert sorted(truth) == TEST and max(pose_errors(truth[n], test[n])[0] for n in TEST) < 1e-6
    assert "pseudo ground truth" in read_dataset_json(tmp_path / "out" / "dataset.json")["name"]


def test_frames_without_pseudo_ground_truth_are_left_out(fake: Path, tmp_path: Path, caplog):
    root, pgt = fake / "7scenes" / "chess", fake / "pgt"
    test = read_pgt(pgt / "chess_test.txt")
    del test[TEST[1]]
    write_pseudo_ground_truth(tmp_path / "chess_test.txt", test, 525.0)
    with caplog.at_level(logging.WARNING):
        data = SevenScenes(root, pgt=(pgt / "chess_train.txt", tmp_path / "chess_test.txt")).load()
    assert data.queries == [TEST[0], *TEST[2:]] and data.mapping == TRAIN
    assert f"1 of the 4 test frames have no pose (first: {TEST[1]}): left out" in caplog.text
    with pytest.raises(FormatError, match="no pose of a train frame"):
        SevenScenes(root, pgt=(tmp_path / "chess_test.txt",)).load()


def test_subset_layout_is_read_as_before(tmp_path: Path):
    """vloc's subset (frames/ and splits/, as ../shared/data/7scenes_redkitchen_subset), with its easy and hard
    splits; pseudo ground truth is refused there."""
    root = tmp_path / "redkitchen"
    (root / "frames").mkdir(parents=True)
    (root / "splits").mkdir()
    names = [f"frame-{i:06d}.color.jpg" for i in range(4)]
    for i, name in enumerate(names):
        cv2.imwrite(str(root / "frames" / name), np.zeros((480, 640, 3), np.uint8))
        write_pose_txt(
            root / "frames" / name.replace(".color.jpg", ".pose.txt"),
            pycolmap.Rigid3d(pycolmap.Rotation3d(np.eye(3)), np.array([i, 0.0, 0])),
        )
    for split, chosen in {
        "mapping.txt": names[:2],
        "query.txt": names[2:],
        "mapping_first_half.txt": names[:3],
    }.items():
        (root / "splits" / split).write_text("".join(f"{n}\n" for n in chosen))
    (root / "splits" / "query_second_half_revisits.txt").write_text(f"{names[3]}\n")
    easy, hard = SevenScenes(root).load(), SevenScenes(root, "hard").load()
    assert (easy.name, easy.image_root, easy.mapping, easy.queries) == (
        "7scenes-redkitchen-easy",
        root / "frames",
        names[:2],
        names[2:],
    )
    assert (hard.mapping, hard.queries) == (names[:3], names[3:])
    assert list(easy.cameras[names[2]].params) == [525, 320, 240]
    np.testing.assert_allclose(camera_center(easy.poses[names[3]]), [-3, 0, 0])  # pose.txt camera-to-world, inverted
    with pytest.raises(ConfigError, match="pseudo ground truth is for a published 7-Scenes scene"):
        SevenScenes(root, pgt=(root / "splits" / "query.txt",)).load()


def test_cli_prepares_a_published_scene_with_pseudo_ground_truth(fake: Path, tmp_path: Path):
    pgt = fake / "pgt"
    result = CliRunner().invoke(
        app,
        ["prepare", "7scenes", str(tmp_path / "out"), "--root", str(fake / "7scenes" / "fire")]
        + ["--pgt", str(pgt / "fire_train.txt"), "--pgt", str(pgt / "fire_test.txt")],
    )
    assert result.exit_code == 0, result.output
    info = read_dataset_json(tmp_path / "out" / "dataset.json")
    assert info["name"].startswith("7scenes-fire (pseudo ground truth") and info["num_queries"] == 4


def minimal_scene(root: Path) -> Path:
    """A published scene of blank frames: seq-01 (two frames) trains, seq-02 (one frame) tests."""
    for name in ("seq-01/frame-000000", "seq-01/frame-000001", "seq-02/frame-000000"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / f"{name}.color.png"), np.zeros((480, 640, 3), np.uint8))
        write_pose_txt(root / f"{name}.pose.txt", pycolmap.Rigid3d())
    (root / "TrainSplit.txt").write_text("sequence1\n")
    (root / "TestSplit.txt").write_text("sequence2\n")
    return root


def writes(relative: str, text: str) -> Callable[[Path], object]:
    return lambda root: (root / relative).write_text(text)


def emptied(root: Path) -> None:
    shutil.rmtree(root)
    root.mkdir()


def zipped(root: Path) -> None:
    """seq-02 as downloaded: its zip, not unzipped."""
    shutil.rmtree(root / "seq-02")
    (root / "seq-02.zip").write_bytes(b"")


def no_frames(root: Path) -> None:
    for path in (root / "seq-02").iterdir():
        path.unlink()


def resized(root: Path) -> None:
    cv2.imwrite(str(root / "seq-01" / "frame-000000.color.png"), np.zeros((240, 320), np.uint8))


PGT = ["--pgt", "PGT"]  # PGT: the file ../pgt.txt beside the scene
BAD_LAYOUTS = {  # case: (change to the minimal scene, options, what the error says)
    "empty folder": (emptied, [], "neither a 7-Scenes scene"),
    "bad split line": (writes("TrainSplit.txt", "seq1\n"), [], "TrainSplit.txt:1: expected 'sequenceN'"),
    "split file missing": (lambda root: (root / "TestSplit.txt").unlink(), [], "TestSplit.txt: 7-Scenes split file"),
    "test sequence trains": (writes("TestSplit.txt", "sequence1\n"), [], "TestSplit.txt: seq-01 is a train sequence"),
    "sequence zipped": (zipped, [], "seq-02: sequence folder not found (unzip seq-02.zip there)"),
    "sequence empty": (no_frames, [], "seq-02: no frame-XXXXXX.color.png colour frames"),
    "pose missing": (
        lambda root: (root / "seq-01" / "frame-000001.pose.txt").unlink(),
        [],
        "frame-000001.pose.txt: 7-Scenes pose file not found",
    ),
    "pose not 4x4": (
        writes("seq-02/frame-000000.pose.txt", "1 0 0\n0 1 0\n0 0 1\n"),
        [],
        "frame-000000.pose.txt: expected a 4x4 matrix",
    ),
    "resized frame": (resized, [], "frame-000000.color.png: 320x240 pixels, expected 7-Scenes' 640x480 colour frames"),
    "split given": (None, ["--split", "hard"], "a published 7-Scenes scene has one split"),
    "pgt of another scene": (
        writes("../pgt.txt", "seq-09/frame-000000.color.png 1 0 0 0 0 0 0 525\n"),
        PGT,
        "pgt.txt:1: seq-09/frame-000000.color.png is not a frame of the scene's train or test sequences",
    ),
    "pgt line short": (
        writes("../pgt.txt", "seq-01/frame-000000.color.png 1 0 0 0 0 0\n"),
        PGT,
        "pgt.txt:1: expected 'rgb_file qw qx qy qz tx ty tz f'",
    ),
    "pgt focal negative": (
        writes("../pgt.txt", "seq-01/frame-000000.color.png 1 0 0 0 0 0 0 -525\n"),
        PGT,
        "pgt.txt:1: the focal length -525 is not positive",
    ),
    "pgt missing": (None, PGT, "pgt.txt: file not found"),
}


@pytest.mark.parametrize("case", BAD_LAYOUTS)
def test_bad_layouts_are_one_line_errors_naming_the_file(case: str, tmp_path: Path):
    change, options, fragment = BAD_LAYOUTS[case]
    root = minimal_scene(tmp_path / "chess")
    if change is not None:
        change(root)
    options = [str(tmp_path / "pgt.txt") if option == "PGT" else option for option in options]
    result = CliRunner().invoke(app, ["prepare", "7scenes", str(tmp_path / "out"), "--root", str(root), *options])
    assert_one_line_error(result, fragment)
