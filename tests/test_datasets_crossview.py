"""The cross-view dataset adapters (KITTI with HighlyAccurate's tiles, VIGOR, Ford Multi-AV) on tiny fake copies of
their published layouts: scales, poses, yaw conversions, intrinsics, seeded priors, and one-line errors naming the
file."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vloc.datasets.crossview_common import EARTH_RADIUS_M
from vloc.datasets.crossview_kitti import prepare_kitti_crossview
from vloc.datasets.ford_crossview import prepare_ford_crossview
from vloc.datasets.vigor import prepare_vigor
from vloc.errors import ConfigError, InputError
from vloc.io.crossview import CrossviewDataset, GroundView, PlanarPose, read_crossview


def write_image(path: Path, width: int, height: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((height, width, 3), 90, np.uint8))


def tile_mpp(latitude: float) -> float:
    """Zoom 18 at scale 2, written out as HighlyAccurate's utils.get_meter_per_pixel does."""
    return 156543.03392 * np.cos(latitude * np.pi / 180.0) / (2**18) / 2


def axes_offset(prior: PlanarPose, pose: PlanarPose) -> tuple[float, float, float]:
    """The prior's offset from the pose along the pose's heading, to its right, and in yaw."""
    yaw = math.radians(pose.yaw)
    dx, dy = prior.x - pose.x, prior.y - pose.y
    dyaw = (prior.yaw - pose.yaw + 180) % 360 - 180
    return dx * math.cos(yaw) + dy * math.sin(yaw), -dx * math.sin(yaw) + dy * math.cos(yaw), dyaw


def by_image(dataset: CrossviewDataset) -> dict[str, GroundView]:
    return {view.image: view for view in dataset.views}


def assert_pose(pose: PlanarPose, x: float, y: float, yaw: float) -> None:
    assert (pose.x, pose.y) == pytest.approx((x, y), abs=1e-6)
    assert (pose.yaw - yaw + 180) % 360 - 180 == pytest.approx(0, abs=1e-9)


def assert_readable(dataset: CrossviewDataset) -> None:
    for view in dataset.views:
        assert dataset.ground_image(view).shape == (view.camera.height, view.camera.width, 3)
        assert dataset.aerial_image(view.aerial).ndim == 3


# ---------------------------------------------------------------------------------------------------------- KITTI

KITTI_CALIBRATION = "\n".join(  # lines of a real calib_cam_to_cam.txt (2011_09_26)
    [
        "calib_time: 09-Jan-2012 13:57:47",
        "corner_dist: 9.950000e-02",
        "S_rect_02: 1.242000e+03 3.750000e+02",
        "R_rect_02: 9.998817e-01 1.511453e-02 -2.841595e-03 -1.511724e-02 9.998853e-01 -9.338510e-04 "
        "2.827154e-03 9.766976e-04 9.999955e-01",
        "P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 7.215377e+02 1.728540e+02 "
        "2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 2.745884e-03",
        "P_rect_03: 7.215377e+02 0.000000e+00 6.095593e+02 -3.395242e+02 0.000000e+00 7.215377e+02 1.728540e+02 "
        "2.199936e+00 0.000000e+00 0.000000e+00 1.000000e+00 2.729905e-03",
    ]
)
DRIVE = "2011_09_26/2011_09_26_drive_0001_sync"
NORTH_FRAME, TURNED_FRAME = f"{DRIVE}/0000000000.png", f"{DRIVE}/0000000001.png"
KITTI_FRAMES = {NORTH_FRAME: (49.015003475102, math.pi / 2), TURNED_FRAME: (49.015009, 0.3)}


@pytest.fixture(scope="module")
def kitti(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kitti") / "KITTI"
    (root / "raw_data/2011_09_26").mkdir(parents=True)
    (root / "raw_data/2011_09_26/calib_cam_to_cam.txt").write_text(KITTI_CALIBRATION)
    for name, (latitude, heading) in KITTI_FRAMES.items():
        drive, frame = name.rsplit("/", 1)
        write_image(root / "raw_data" / drive / "image_02/data" / frame, 48, 16)
        write_image(root / "satmap" / name, 64, 64)
        oxts = [latitude, 8.4342971002335, 116.43, 0.035752, 0.00903, heading] + [0.1] * 24
        oxts_path = root / "raw_data" / drive / "oxts/data" / frame.replace(".png", ".txt")
        oxts_path.parent.mkdir(parents=True, exist_ok=True)
        oxts_path.write_text(" ".join(f"{value:.12g}" for value in oxts) + "\n")
    return root


def test_kitti_scale_pose_yaw_and_intrinsics(kitti, tmp_path):
    assert prepare_kitti_crossview(kitti, tmp_path / "out") == 2
    dataset = read_crossview(tmp_path / "out")
    views = by_image(dataset)
    north = views[f"raw_data/{DRIVE}/image_02/data/0000000000.png"]
    mpp = tile_mpp(49.015003475102)
    assert mpp == pytest.approx(0.19583, abs=1e-5)
    assert dataset.aerials[north.aerial].metres_per_pixel == pytest.approx(mpp, rel=1e-12)
    assert north.aerial == f"satmap/{NORTH_FRAME}"
    # heading 90 deg = north = up the tile: yaw -90; the camera 1.08 m ahead (north) and 0.26 m right (east)
    assert_pose(north.pose, 32 * mpp + 0.26, 32 * mpp - 1.08, -90.0)
    turned = views[f"raw_data/{DRIVE}/image_02/data/0000000001.png"]
    assert turned.pose.yaw == pytest.approx(-math.degrees(0.3))
    assert north.camera.model == "PINHOLE" and (north.camera.width, north.camera.height) == (48, 16)
    assert north.camera.params == pytest.approx((721.5377, 721.5377, 609.5593 + 0.5, 172.854 + 0.5))
    assert north.camera_height == 1.65 and north.split == ""
    assert_readable(dataset)


def test_kitti_split_files_name_splits_and_carry_the_published_prior(kitti, tmp_path):
    test1 = tmp_path / "test1_files.txt"
    test1.write_text(f"{NORTH_FRAME} 0.5 -0.25 0.1\n")
    train = tmp_path / "train_files.txt"
    train.write_text(f"{TURNED_FRAME}\n")
    assert prepare_kitti_crossview(kitti, tmp_path / "out", (test1, train)) == 2
    dataset = read_crossview(tmp_path / "out")
    assert [len(dataset.select(split)) for split in ("test1", "train")] == [1, 1]
    north = dataset.select("test1")[0]
    # the camera lies 10 m ahead of (north) and 5 m left of (west of) its prior: the prior is 5 m east, 10 m south
    assert_pose(north.prior, north.pose.x - 5.0, north.pose.y + 10.0, -89.0)


def test_kitti_priors_are_within_the_offsets_and_reproducible(kitti, tmp_path):
    prepare_kitti_crossview(kitti, tmp_path / "a", prior_offset_m=20.0, prior_yaw_deg=10.0, seed=3)
    prepare_kitti_crossview(kitti, tmp_path / "b", seed=3)
    prepare_kitti_crossview(kitti, tmp_path / "c", seed=4)
    for view in read_crossview(tmp_path / "a").views:
        forward, right, dyaw = axes_offset(view.prior, view.pose)
        assert abs(forward) <= 20 and abs(right) <= 20 and abs(dyaw) <= 10
    priors = {name: json.loads((tmp_path / name / "crossview.json").read_text())["views"] for name in "abc"}
    assert priors["a"] == priors["b"] and priors["a"] != priors["c"]


def test_kitti_names_the_missing_or_malformed_file(kitti, tmp_path):
    root = tmp_path / "KITTI"
    shutil.copytree(kitti, root)
    (root / "satmap" / TURNED_FRAME).unlink()
    listing = tmp_path / "train_files.txt"
    listing.write_text(f"{TURNED_FRAME}\n")
    with pytest.raises(InputError, match=f"satmap/{TURNED_FRAME}: image not found"):
        prepare_kitti_crossview(root, tmp_path / "out", (listing,))
    oxts = root / "raw_data" / DRIVE / "oxts/data/0000000000.txt"
    oxts.write_text("49.01 8.43 116.4\n")
    with pytest.raises(InputError, match=f"{oxts}: expected at least 6 numbers"):
        prepare_kitti_crossview(root, tmp_path / "out")
    (root / "raw_data/2011_09_26/calib_cam_to_cam.txt").unlink()
    with pytest.raises(InputError, match="calib_cam_to_cam.txt: file not found"):
        prepare_kitti_crossview(root, tmp_path / "out")
    with pytest.raises(InputError, match="inside the dataset folder"):
        prepare_kitti_crossview(root, root / "crossview")
    assert not (tmp_path / "out" / "crossview.json").exists()


# ---------------------------------------------------------------------------------------------------------- VIGOR

VIGOR_LABELS = {  # SliceMatch's corrected labels for two Seattle panoramas (positive tile and its offsets first)
    "train": "EPdy_wwpT03WDToUUDkHnQ,47.582113,-122.314680,.jpg satellite_47.58225436149519_-122.31462478843227.png "
    "156.0 40.0 satellite_47.58192628904255_-122.31462478843227.png -205.0 43.0 "
    "satellite_47.58225436149519_-122.31511123266363.png 153.0 -323.0 "
    "satellite_47.58192628904255_-122.31511123266363.png -209.0 -320.0",
    "test": "hBINksblh8QdgDU-TAoJgA,47.620507,-122.308466,.jpg satellite_47.6206388384538_-122.30830101342465.png "
    "146.0 122.0 satellite_47.62031076600116_-122.30830101342465.png -215.0 125.0 "
    "satellite_47.6206388384538_-122.30878745765601.png 143.0 -241.0 "
    "satellite_47.62031076600116_-122.30878745765601.png -218.0 -238.0",
}


def vigor_layout(root: Path, labels: str = "splits__corrected", suffix: str = "__corrected") -> Path:
    for split, line in VIGOR_LABELS.items():
        panorama, tile = line.split()[:2]
        write_image(root / "Seattle/panorama" / panorama, 64, 32)
        write_image(root / "Seattle/satellite" / tile, 640, 640)
        listing = root / labels / "Seattle" / f"same_area_balanced_{split}{suffix}.txt"
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text(line + "\n")
    (root / labels / "Seattle" / f"pano_label_balanced{suffix}.txt").write_text("\n".join(VIGOR_LABELS.values()))
    return root


def test_vigor_pose_from_the_label_offsets_north_yaw_and_city_scale(tmp_path):
    root = vigor_layout(tmp_path / "VIGOR")
    assert prepare_vigor(root, tmp_path / "out", cities=("Seattle",)) == 2
    dataset = read_crossview(tmp_path / "out")
    train, test = dataset.select("train")[0], dataset.select("test")[0]
    assert train.image == f"Seattle/panorama/{VIGOR_LABELS['train'].split()[0]}"
    assert train.aerial == "Seattle/satellite/satellite_47.58225436149519_-122.31462478843227.png"
    assert dataset.aerials[train.aerial].metres_per_pixel == pytest.approx(0.100817, rel=1e-12)
    # column 320 - 40, row 320 + 156; the panorama's centre looks north: yaw -90
    assert_pose(train.pose, 280 * 0.100817, 476 * 0.100817, -90.0)
    assert_pose(test.pose, 198 * 0.100817, 466 * 0.100817, -90.0)
    assert train.camera.model == "EQUIRECTANGULAR" and (train.camera.width, train.camera.height) == (64, 32)
    assert train.camera_height == 2.0 and train.condition == "Seattle"
    side = 640 * 0.100817
    for view in dataset.views:
        forward, right, dyaw = axes_offset(view.prior, view.pose)
        assert math.hypot(forward, right) <= 20 * math.sqrt(2) and abs(dyaw) <= 10
        assert 0 <= view.prior.x <= side and 0 <= view.prior.y <= side
    assert_readable(dataset)


def test_vigor_cross_area_reads_the_original_labels_where_no_corrected_ones(tmp_path):
    root = vigor_layout(tmp_path / "VIGOR", labels="splits", suffix="")
    assert prepare_vigor(root, tmp_path / "out", area="cross", cities=("Seattle",)) == 2
    dataset = read_crossview(tmp_path / "out")
    assert {view.split for view in dataset.views} == {"train"}  # Seattle trains in the cross-area protocol


def test_vigor_names_the_missing_file_and_refuses_unknown_settings(tmp_path):
    root = vigor_layout(tmp_path / "VIGOR")
    tile = root / "Seattle/satellite/satellite_47.6206388384538_-122.30830101342465.png"
    tile.unlink()
    with pytest.raises(InputError, match=f"{tile}: image not found"):
        prepare_vigor(root, tmp_path / "out", cities=("Seattle",))
    with pytest.raises(InputError, match="Chicago/same_area_balanced_train.txt: label list not found"):
        prepare_vigor(root, tmp_path / "out", cities=("Chicago",))
    with pytest.raises(ConfigError, match="neither 'same' nor 'cross'"):
        prepare_vigor(root, tmp_path / "out", area="both")


# ---------------------------------------------------------------------------------------------------------- Ford

LOG = "2017-08-04/V2/Log1"
SAT_LAT, SAT_LON = "42.29424422604817", "-83.22388370147003"
BODY_LAT, BODY_LON = float(SAT_LAT) + 0.00005, float(SAT_LON) + 0.0001
CAMERA_YAW = 5.0  # the front-left camera turned 5 degrees right of the body's heading


def ford_calibration(folder: Path) -> None:
    camera_to_body = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # camera z ahead, x right, y down
    turn = Rotation.from_euler("z", CAMERA_YAW, degrees=True).as_matrix()  # about the body's z (down): clockwise
    qx, qy, qz, qw = Rotation.from_matrix(turn @ camera_to_body).as_quat()
    folder.mkdir(parents=True)
    (folder / "cameraFrontLeft_body.yaml").write_text(
        'header:\n  seq: 0\n  frame_id: "body"\nchild_frame_id: "camera_front_left"\ntransform:\n'
        f"  translation:\n    x: 1.5\n    y: -0.3\n    z: -1.2\n"
        f"  rotation:\n    x: {qx}\n    y: {qy}\n    z: {qz}\n    w: {qw}\n"
    )
    (folder / "cameraFrontLeftIntrinsics.yaml").write_text(
        'header:\n  seq: 0\n  frame_id: "camera_front_left"\nheight: 860\nwidth: 1656\ndistortion_model: "plumb_bob"\n'
        "D: [-0.27, 0.06, 0.0, 0.0, 0.0]\n"
        "K: [945.391406, 0.0, 855.502825, 0.0, 945.668274, 566.372868, 0.0, 0.0, 1.0]\n"
    )


@pytest.fixture(scope="module")
def ford(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ford") / "Ford"
    ford_calibration(root / "Calibration-V2/V2")
    log = root / LOG
    write_image(log / "2017-08-04-V2-Log1-FL/1501871660181963.png", 48, 24)
    write_image(log / "SatelliteMaps_18" / f"{SAT_LAT}_{SAT_LON}.png", 64, 64)
    east = math.cos(math.pi / 4)  # heading east: a 90-degree yaw about north-east-down's z
    line = f"1501871660181963.txt {east} 0.0 0.0 {east} {BODY_LAT!r} {BODY_LON!r} {SAT_LAT} {SAT_LON}"
    (log / "grd_sat_quaternion_latlon.txt").write_text(line + "\n")
    (log / "grd_sat_quaternion_latlon_test.txt").write_text(line + " 0.5 -0.25 0.2\n")
    return root


def test_ford_body_from_the_tile_centre_camera_from_the_calibration(ford, tmp_path):
    assert prepare_ford_crossview(ford, tmp_path / "out") == 2
    dataset = read_crossview(tmp_path / "out")
    train, test = dataset.select("train")[0], dataset.select("test")[0]
    mpp = tile_mpp(float(SAT_LAT))
    assert mpp == pytest.approx(0.22, abs=1e-3)  # the released code's fixed 0.22
    assert dataset.aerials[train.aerial].metres_per_pixel == pytest.approx(mpp, rel=1e-12)
    scale = EARTH_RADIUS_M * math.cos(math.radians(float(SAT_LAT)))
    east = scale * math.radians(BODY_LON - float(SAT_LON))
    north = scale * math.radians(BODY_LAT - float(SAT_LAT)) / math.cos(math.radians((BODY_LAT + float(SAT_LAT)) / 2))
    body_x, body_y = 32 * mpp + east, 32 * mpp - north
    # heading east (yaw 0 on the tile): the camera 1.5 m further east, 0.3 m left (north), turned 5 degrees right
    assert_pose(train.pose, body_x + 1.5, body_y - 0.3, CAMERA_YAW)
    assert train.image == f"{LOG}/2017-08-04-V2-Log1-FL/1501871660181963.png"
    assert train.camera.params == pytest.approx((945.391406, 945.668274, 856.002825, 566.872868))
    assert train.camera_height == 1.65 and train.condition == LOG
    # the published perturbation moves the body 5 m ahead, 10 m right and turns it 2 degrees; the camera rides along
    turn = math.radians(2.0)
    prior_x = body_x + 5 + 1.5 * math.cos(turn) + 0.3 * math.sin(turn)
    prior_y = body_y + 10 + 1.5 * math.sin(turn) - 0.3 * math.cos(turn)
    assert_pose(test.prior, prior_x, prior_y, 2.0 + CAMERA_YAW)
    forward, right, dyaw = axes_offset(train.prior, train.pose)
    assert abs(forward) <= 20 and abs(right) <= 20 and abs(dyaw) <= 10
    assert_readable(dataset)


def test_ford_names_the_missing_or_malformed_file(ford, tmp_path):
    root = tmp_path / "Ford"
    shutil.copytree(ford, root)
    listing = root / LOG / "grd_sat_quaternion_latlon.txt"
    listing.write_text(f"1501871660181963.txt 1 0 0 0 {BODY_LAT} {BODY_LON}\n")
    with pytest.raises(InputError, match=f"{listing}:1: expected 9 values"):
        prepare_ford_crossview(root, tmp_path / "out")
    listing.unlink()
    tile = root / LOG / "SatelliteMaps_18" / f"{SAT_LAT}_{SAT_LON}.png"
    tile.unlink()
    with pytest.raises(InputError, match=f"{tile}: image not found"):
        prepare_ford_crossview(root, tmp_path / "out")
    mount = root / "Calibration-V2/V2/cameraFrontLeft_body.yaml"
    mount.unlink()
    with pytest.raises(InputError, match=f"{mount}: Ford calibration file not found"):
        prepare_ford_crossview(root, tmp_path / "out")


def test_cli_prepare_writes_the_dataset_and_refuses_an_unknown_layout(kitti, tmp_path):
    from typer.testing import CliRunner

    from vloc.cli import app

    result = CliRunner().invoke(app, ["crossview", "prepare", "kitti", str(kitti), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    expected = prepare_kitti_crossview(kitti, tmp_path / "direct")
    assert read_crossview(tmp_path / "out").views == read_crossview(tmp_path / "direct").views and expected > 0
    result = CliRunner().invoke(app, ["crossview", "prepare", "cvusa", str(kitti), str(tmp_path / "other")])
    assert result.exit_code == 1 and "unknown cross-view layout 'cvusa'" in result.output


def test_vigor_panoramas_go_through_localization(tmp_path):
    """A prepared VIGOR layout localizes end to end: panoramas projected all around, a pose per view (an untrained
    network: only that every view gets one)."""
    import torch
    from typer.testing import CliRunner

    from vloc.cli import app
    from vloc.crossview.evaluate import read_planar_poses
    from vloc.models.checkpoint import save_checkpoint
    from vloc.models.crossview import CrossviewConf, DenseFlowNetwork

    prepare_vigor(vigor_layout(tmp_path / "VIGOR"), tmp_path / "out", cities=("Seattle",))
    torch.manual_seed(0)
    conf = CrossviewConf(ground_height=32, ground_width=64, tile_size=48, channels=16, hidden=16, context=8)
    save_checkpoint(tmp_path / "net.pt", DenseFlowNetwork(conf))
    poses = tmp_path / "poses.txt"
    result = CliRunner().invoke(
        app, ["crossview", "localize", str(tmp_path / "out"), str(tmp_path / "net.pt"), str(poses)]
    )
    assert result.exit_code == 0, result.output
    assert sorted(read_planar_poses(poses)) == sorted(view.image for view in read_crossview(tmp_path / "out").views)
