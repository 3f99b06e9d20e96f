"""crossview.json: a round trip, one-line errors for what localization cannot do without, and tiles cut from an
aerial image where their frame says."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from vloc.errors import InputError
from vloc.io.crossview import (
    Aerial,
    GroundCamera,
    GroundView,
    PlanarPose,
    TileFrame,
    cut_tile,
    read_crossview,
    wrap_degrees,
    write_crossview,
)

CAMERA = GroundCamera("SIMPLE_PINHOLE", 64, 32, (40.0, 32.0, 16.0))


def write_dataset(root, aerial_entry=None, view_changes=None):
    root.mkdir(exist_ok=True)
    cv2.imwrite(str(root / "aerial.png"), np.zeros((50, 80, 3), np.uint8))
    cv2.imwrite(str(root / "ground.png"), np.zeros((32, 64, 3), np.uint8))
    view = GroundView("ground.png", "a", CAMERA, 1.65, PlanarPose(10, 5, 30), PlanarPose(12, 4, 25), "day", "test")
    write_crossview(root, {"a": Aerial("aerial.png", 0.5)}, [view])
    info = json.loads((root / "crossview.json").read_text())
    if aerial_entry is not None:
        info["aerial"]["a"] = aerial_entry
    for key, value in (view_changes or {}).items():
        if value is None:
            info["views"][0].pop(key)
        else:
            info["views"][0][key] = value
    (root / "crossview.json").write_text(json.dumps(info))
    return root


def test_round_trip(tmp_path):
    dataset = read_crossview(write_dataset(tmp_path / "d"))
    (view,) = dataset.views
    assert dataset.aerials["a"].metres_per_pixel == 0.5
    assert view.camera == CAMERA and view.camera_height == 1.65
    assert view.pose == PlanarPose(10, 5, 30) and view.prior == PlanarPose(12, 4, 25)
    assert dataset.select("test", "day") == [view] and dataset.select("train") == []
    assert dataset.ground_image(view).shape == (32, 64, 3)


def test_image_root_elsewhere(tmp_path):
    images = write_dataset(tmp_path / "images")
    dataset = read_crossview(images)
    write_crossview(tmp_path / "out", dataset.aerials, dataset.views, image_root=images)
    moved = read_crossview(tmp_path / "out")
    assert moved.root.resolve() == images.resolve()
    assert moved.aerial_image("a").shape == (50, 80, 3)


@pytest.mark.parametrize(
    ("aerial_entry", "view_changes", "message"),
    [
        ({"image": "aerial.png"}, None, "aerial 'a' has no scale"),
        ({"image": "aerial.png", "metres_per_pixel": 0}, None, "aerial 'a' has no scale"),
        (None, {"camera": None}, "no camera intrinsics"),
        (None, {"camera": {"model": "OPENCV", "width": 64, "height": 32, "params": [1]}}, "camera model 'OPENCV'"),
        (None, {"camera_height_m": None}, "has no camera height"),
        (None, {"aerial": "b"}, "aerial image 'b' is not listed"),
        (None, {"pose": {"x": 1, "y": 2}}, "yaw_deg"),
        (None, {"aerial": ["a"]}, "aerial image \\['a'\\] is not listed"),
    ],
)
def test_what_is_missing_is_one_line_naming_the_file(tmp_path, aerial_entry, view_changes, message):
    root = write_dataset(tmp_path / "d", aerial_entry, view_changes)
    with pytest.raises(InputError, match=message) as error:
        read_crossview(root)
    assert str(root / "crossview.json") in str(error.value) and "\n" not in str(error.value)


def test_a_malformed_file_is_one_line(tmp_path):
    root = write_dataset(tmp_path / "d")
    info = json.loads((root / "crossview.json").read_text())
    info["aerial"] = [info["aerial"]["a"]]
    (root / "crossview.json").write_text(json.dumps(info))
    with pytest.raises(InputError, match="'aerial' must map names to aerial images"):
        read_crossview(root)


def test_a_prior_off_the_aerial_image_is_refused():
    aerial = np.zeros((50, 80, 3), np.uint8)
    frame = TileFrame(PlanarPose(41, 10, 0), 16, 0.5)  # the image is 40 m x 25 m
    with pytest.raises(InputError, match="outside the aerial image"):
        cut_tile(aerial, 0.5, frame, "view.png")


def test_tile_frame_maps_poses_both_ways():
    frame = TileFrame(PlanarPose(30, 20, 35), 128, 0.5)
    pose = PlanarPose(33, 16, -20)
    u, v, angle = frame.pose_in_tile(pose)
    back = frame.pose_on_aerial(u, v, angle)
    assert back.x == pytest.approx(33) and back.y == pytest.approx(16) and back.yaw == pytest.approx(-20)
    # 3 m straight ahead of the prior is 6 tile pixels right of the centre
    u, v, angle = frame.pose_in_tile(
        PlanarPose(30 + 3 * math.cos(math.radians(35)), 20 + 3 * math.sin(math.radians(35)), 35)
    )
    assert (u, v, angle) == pytest.approx((70, 64, 0))


def test_a_tile_turned_by_90_degrees_is_the_aerial_image_turned():
    rng = np.random.default_rng(0)
    aerial = rng.integers(0, 255, (60, 60, 3), dtype=np.uint8)
    upright = cut_tile(aerial, 1.0, TileFrame(PlanarPose(30, 30, 0), 20, 1.0))
    assert np.array_equal(upright, aerial[20:40, 20:40])
    turned = cut_tile(aerial, 1.0, TileFrame(PlanarPose(30, 30, 90), 20, 1.0))
    # heading +y (down the aerial rows) points right in the tile: the aerial turned a quarter counter-clockwise
    assert np.array_equal(turned, np.rot90(aerial[20:40, 20:40]))


def test_wrap_degrees():
    assert [wrap_degrees(a) for a in (0, 180, -180, 190, -190, 359, 540)] == [0, 180, 180, -170, 170, -1, 180]
