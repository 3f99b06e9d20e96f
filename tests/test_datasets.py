"""Dataset adapters: pose conventions checked against the images, and the files `prepare` writes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import pytest
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.datasets import (
    ColmapImages,
    KittiOdometry,
    PosesFile,
    Prepared,
    SevenScenes,
    Synthetic,
    TempleRing,
    prepare,
)
from vloc.datasets.temple_ring import read_latitudes
from vloc.errors import ConfigError, FormatError, InputError
from vloc.geometry.epipolar import epipolar_distances, fundamental_from_poses
from vloc.geometry.rigid3d import camera_center, pose_errors
from vloc.io.model import build_posed_model, model_poses, read_model, write_model
from vloc.io.text import read_image_list, read_poses, read_queries, write_poses, write_queries


def sift_inliers(path0: Path, path1: Path) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV SIFT, ratio 0.8, RANSAC F inliers, keypoints moved to COLMAP's +0.5 pixel convention."""
    sift = cv2.SIFT_create()
    (k0, d0), (k1, d1) = (sift.detectAndCompute(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), None) for p in (path0, path1))
    good = [m for m, n in cv2.BFMatcher().knnMatch(d0, d1, k=2) if m.distance < 0.8 * n.distance]
    p0 = np.array([k0[m.queryIdx].pt for m in good]) + 0.5
    p1 = np.array([k1[m.trainIdx].pt for m in good]) + 0.5
    _, mask = cv2.findFundamentalMat(p0, p1, cv2.FM_RANSAC, 1.0, 0.999)
    inliers = mask.ravel().astype(bool)
    assert inliers.sum() >= 100
    return p0[inliers], p1[inliers]


def median_epipolar(data: Prepared, name0: str, name1: str, transposed: bool = False) -> float:
    p0, p1 = sift_inliers(data.image_root / name0, data.image_root / name1)
    pose0, pose1 = data.poses[name0], data.poses[name1]
    if transposed:  # the wrong reading of the convention, for contrast
        pose0, pose1 = pose0.inverse(), pose1.inverse()
    fundamental = fundamental_from_poses(pose0, data.cameras[name0], pose1, data.cameras[name1])
    return float(np.median(epipolar_distances(p0, p1, fundamental)))


# ---------------------------------------------------------------- KITTI
def test_kitti_snippet_reads_camera_to_world_poses_and_the_left_camera(shared_data: Path):
    kitti = KittiOdometry(shared_data / "kitti_odometry_seq1").load()
    assert kitti.mapping[:2] == ["000000.png", "000002.png"] and len(kitti.mapping) == 26 and len(kitti.queries) == 25
    camera = kitti.cameras["000001.png"]
    assert (camera.width, camera.height) == (1226, 370)
    np.testing.assert_allclose(camera.params, [707.0912, 707.0912, 602.3873, 183.6104])
    # 60 m of straight driving along the first camera's optical axis
    np.testing.assert_allclose(camera_center(kitti.poses["000050.png"]), [-0.981436, -1.190278, 59.83857], atol=1e-6)
    # Forward motion makes the epipolar test weak, but the transposed reading is still 2x worse (measured 0.67 px
    # and 0.44 px, transposed 1.64 px; with the principal point not moved by +0.5, 0.68 px and 0.47 px).
    assert median_epipolar(kitti, "000010.png", "000012.png") < 0.8
    assert median_epipolar(kitti, "000020.png", "000022.png") < 0.55
    assert median_epipolar(kitti, "000010.png", "000012.png", transposed=True) > 1.2


def kitti_layout(root: Path, num_frames: int = 4) -> Path:
    """KITTI's own layout, tiny: dataset/sequences/04/{image_0/*.png, calib.txt}, dataset/poses/04.txt."""
    sequence = root / "dataset" / "sequences" / "04"
    (sequence / "image_0").mkdir(parents=True)
    for i in range(num_frames):
        cv2.imwrite(str(sequence / "image_0" / f"{i:06d}.png"), np.full((37, 122), 40 * i, np.uint8))
    projection = "7.0e+01 0 6.0e+01 0 0 7.0e+01 1.8e+01 0 0 0 1 0"
    (sequence / "calib.txt").write_text(f"P0: {projection}\nP1: {projection}\n")
    (root / "dataset" / "poses").mkdir()
    rows = [f"1 0 0 {0.1 * i} 0 1 0 0 0 0 1 {i}" for i in range(num_frames)]  # forward 1 m, right 0.1 m per frame
    (root / "dataset" / "poses" / "04.txt").write_text("\n".join(rows) + "\n")
    return sequence


def test_kitti_official_layout_finds_its_poses_and_labelled_calibration(tmp_path: Path):
    kitti = KittiOdometry(kitti_layout(tmp_path)).load()
    assert kitti.mapping == ["000000.png", "000002.png"] and kitti.queries == ["000001.png", "000003.png"]
    np.testing.assert_allclose(kitti.cameras["000003.png"].params, [70, 70, 60.5, 18.5])
    assert (kitti.cameras["000003.png"].width, kitti.cameras["000003.png"].height) == (122, 37)
    np.testing.assert_allclose(camera_center(kitti.poses["000003.png"]), [0.3, 0, 3])


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda s, r: (r / "dataset/poses/04.txt").write_text("1 0 0 0 0 1 0 0 0 0 1 0\n"), "1 poses for the 4 images"),
        (lambda s, r: (r / "dataset/poses/04.txt").write_text("1 0 0 0 0 1 0 0 0 0 1\n" * 4), "04.txt:1: expected"),
        (lambda s, r: (s / "calib.txt").write_text("P0: 1 2 3\n"), "calib.txt:1: expected the 12 numbers"),
        (lambda s, r: (s / "calib.txt").unlink(), "calib.txt: calibration file not found"),
        (lambda s, r: (r / "dataset/poses/04.txt").unlink(), "no poses.txt, nor"),
        (lambda s, r: shutil.rmtree(s / "image_0"), "no image_0 or image_l image folder"),
    ],
)
def test_kitti_bad_layouts_fail_in_one_line_naming_the_file(tmp_path: Path, damage, message: str):
    sequence = kitti_layout(tmp_path)
    damage(sequence, tmp_path)
    with pytest.raises((InputError, FormatError), match=re.escape(message)):
        KittiOdometry(sequence).load()


def test_cli_prepares_kitti(tmp_path: Path):
    from vloc.cli import app

    sequence = kitti_layout(tmp_path)
    result = CliRunner().invoke(app, ["prepare", "kitti", str(tmp_path / "out"), "--root", str(sequence)])
    assert result.exit_code == 0, result.output
    assert read_image_list(tmp_path / "out" / "query_list.txt") == ["000001.png", "000003.png"]
    thresholds = json.loads((tmp_path / "out" / "dataset.json").read_text())["thresholds"]
    assert thresholds == [[0.05, 0.1], [0.1, 0.25], [0.5, 1.0]]
    assert sorted(read_poses(tmp_path / "out" / "ground_truth.txt")) == ["000001.png", "000003.png"]


# ---------------------------------------------------------------- 7-Scenes
@pytest.fixture(scope="module")
def seven_scenes(shared_data: Path) -> Prepared:
    return SevenScenes(shared_data / "7scenes_redkitchen_subset", "easy").load()


def test_seven_scenes_splits_and_camera(seven_scenes, shared_data):
    assert len(seven_scenes.mapping) == 100 and len(seven_scenes.queries) == 100
    camera = seven_scenes.cameras["frame-000005.color.jpg"]
    assert camera.model_name == "SIMPLE_PINHOLE" and list(camera.params) == [525, 320, 240]
    hard = SevenScenes(shared_data / "7scenes_redkitchen_subset", "hard").load()
    assert (len(hard.mapping), len(hard.queries)) == (100, 65)
    assert seven_scenes.thresholds == [(0.02, 2.0), (0.05, 5.0), (0.10, 10.0)]


def test_seven_scenes_poses_are_inverted_camera_to_world(seven_scenes):
    world_from_cam = np.loadtxt(seven_scenes.image_root / "frame-000000.pose.txt")
    np.testing.assert_allclose(
        camera_center(seven_scenes.poses["frame-000000.color.jpg"]), world_from_cam[:3, 3], atol=1e-9
    )
    names = sorted(seven_scenes.poses)
    steps = [pose_errors(seven_scenes.poses[a], seven_scenes.poses[b]) for a, b in zip(names, names[1:])]
    assert np.median([dt for dt, _ in steps]) < 0.1 and max(dt for dt, _ in steps) < 0.25


def test_seven_scenes_epipolar_check(seven_scenes):
    a, b = "frame-000000.color.jpg", "frame-000020.color.jpg"
    assert median_epipolar(seven_scenes, a, b) < 2.0
    assert median_epipolar(seven_scenes, a, b, transposed=True) > 5.0


def test_seven_scenes_bad_split(shared_data):
    with pytest.raises(ConfigError):
        SevenScenes(shared_data / "7scenes_redkitchen_subset", "medium").load()


# ---------------------------------------------------------------- templeRing
@pytest.fixture(scope="module")
def temple(shared_data: Path) -> Prepared:
    return TempleRing(shared_data / "middlebury_templeRing").load()


def test_temple_ring_cameras_and_centres(temple):
    assert (len(temple.mapping), len(temple.queries), len(temple.poses)) == (24, 23, 47)
    camera = temple.cameras["templeR0001.png"]
    # Middlebury K (top-left pixel centre at 0) shifted to COLMAP's +0.5 convention.
    np.testing.assert_allclose(camera.params, [1520.4, 1525.9, 302.82, 247.37])
    box_centre = (np.array([-0.023121, -0.038009, -0.091940]) + np.array([0.078626, 0.121636, -0.017395])) / 2
    distances = [np.linalg.norm(camera_center(p) - box_centre) for p in temple.poses.values()]
    assert min(distances) > 0.55 and max(distances) < 0.58
    # cameras look at the object: it is in front (positive depth) and projects inside the image
    for pose in temple.poses.values():
        x = pose * box_centre.reshape(1, 3)
        assert x[0, 2] > 0.5
        u, v = camera.img_from_cam(x)[0]
        assert 0 < u < 640 and 0 < v < 480
    dt, dr = pose_errors(temple.poses["templeR0001.png"], temple.poses["templeR0030.png"])
    assert dt < 1e-6 and dr < 1e-3  # the ring closes
    # queries are evaluated per ring of the gantry too (templeR_ang.txt): views 1-31 at -82 deg, 32-47 at +82 deg
    assert temple.conditions == {name: "lat -82" if int(name[7:11]) <= 31 else "lat +82" for name in temple.queries}


def test_temple_ring_latitudes_file_with_a_bad_line_fails(tmp_path):
    path = tmp_path / "templeR_ang.txt"
    path.write_text("-82.17 -180.0 templeR0001.png\nhigh -172.3 templeR0002.png\n")
    with pytest.raises(FormatError, match=r"templeR_ang.txt:2: expected 'latitude longitude name'"):
        read_latitudes(path)
    path.write_text("-82.17 -180.0 templeR0001.png\n\n82.17 0.0 templeR0040.png\n")
    assert read_latitudes(path) == {"templeR0001.png": -82.17, "templeR0040.png": 82.17}


def test_temple_ring_epipolar_check(temple):
    assert median_epipolar(temple, "templeR0001.png", "templeR0002.png") < 0.5
    assert median_epipolar(temple, "templeR0003.png", "templeR0004.png") < 0.5
    assert median_epipolar(temple, "templeR0001.png", "templeR0002.png", transposed=True) > 2  # measured 3.3 px


def test_prepare_temple_ring(shared_data, tmp_path):
    out = prepare(TempleRing(shared_data / "middlebury_templeRing"), tmp_path / "temple")
    reference = read_model(out / "reference")
    assert reference.num_reg_images() == 24 and reference.num_points3D() == 0 and len(reference.cameras) == 1
    assert sorted(model_poses(reference)) == read_image_list(out / "mapping.txt")
    queries = read_queries(out / "queries.txt")
    assert sorted(queries) == read_image_list(out / "query_list.txt") and len(queries) == 23
    np.testing.assert_allclose(queries["templeR0002.png"].params, [1520.4, 1525.9, 302.82, 247.37])
    truth = read_poses(out / "ground_truth.txt")
    assert sorted(truth) == sorted(queries)
    reference_truth = TempleRing(shared_data / "middlebury_templeRing").load().poses
    for name, pose in truth.items():
        dt, dr = pose_errors(pose, reference_truth[name])
        assert dt < 1e-8 and dr < 1e-6
    info = json.loads((out / "dataset.json").read_text())
    assert info["thresholds"] == [[0.001, 0.5], [0.005, 1.0], [0.01, 2.0]]
    assert Path(info["image_root"]).is_absolute() and (Path(info["image_root"]) / "templeR0002.png").is_file()


# ---------------------------------------------------------------- synthetic and generic (a tiny fake scene)
def make_scene(root: Path) -> Path:
    """A folder laid out as `vloc synth` writes it: 3 day + 2 night images, a model posing all of them."""
    camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=64, height=48, params=[50.0, 32.0, 24.0])
    names = [f"day/frame_{i:03d}.png" for i in range(3)] + [f"night/frame_{i:03d}.png" for i in range(2)]
    poses = {
        n: pycolmap.Rigid3d(pycolmap.Rotation3d(np.zeros(3)), np.array([0.1 * i, 0, 0])) for i, n in enumerate(names)
    }
    for name in names:
        (root / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / name), np.zeros((48, 64, 3), np.uint8))
    write_model(build_posed_model(dict.fromkeys(names, camera), poses), root / "model")
    (root / "splits").mkdir()
    (root / "splits" / "mapping.txt").write_text("".join(f"{n}\n" for n in names[:3]))
    (root / "splits" / "query_night.txt").write_text("".join(f"{n}\n" for n in names[3:]))
    (root / "scene.json").write_text(json.dumps({"thresholds": [[0.05, 1], [0.2, 5]]}))
    return root


def test_synthetic(tmp_path):
    root = make_scene(tmp_path / "scene")
    data = Synthetic(root).load()
    assert data.queries == ["night/frame_000.png", "night/frame_001.png"] and len(data.mapping) == 3
    assert data.conditions == {"night/frame_000.png": "night", "night/frame_001.png": "night"}
    assert data.thresholds == [(0.05, 1.0), (0.2, 5.0)] and data.image_root == root / "images"
    out = prepare(Synthetic(root), tmp_path / "out")
    info = json.loads((out / "dataset.json").read_text())
    assert info["conditions"] == data.conditions
    np.testing.assert_allclose(read_poses(out / "ground_truth.txt")["night/frame_001.png"].translation, [0.4, 0, 0])


def test_synthetic_missing_name_and_root(tmp_path):
    root = make_scene(tmp_path / "scene")
    (root / "splits" / "query_night.txt").write_text("night/frame_009.png\n")
    with pytest.raises(InputError, match="frame_009"):
        prepare(Synthetic(root), tmp_path / "out")
    with pytest.raises(InputError, match="not found"):
        Synthetic(tmp_path / "nowhere").load()
    with pytest.raises(InputError, match="not found"):
        Synthetic(root, "dusk").load()


def test_colmap_images_and_poses_file(tmp_path):
    root = make_scene(tmp_path / "scene")
    data = ColmapImages(root / "model", root / "images", root / "splits" / "query_night.txt").load()
    assert data.mapping == [f"day/frame_{i:03d}.png" for i in range(3)] and len(data.queries) == 2
    write_poses(tmp_path / "poses.txt", data.poses)
    write_queries(tmp_path / "intrinsics.txt", data.cameras)
    adapter = PosesFile(
        root / "images",
        tmp_path / "poses.txt",
        tmp_path / "intrinsics.txt",
        root / "splits" / "mapping.txt",
        root / "splits" / "query_night.txt",
    )
    other = adapter.load()
    assert other.mapping == data.mapping and other.queries == data.queries
    out = prepare(adapter, tmp_path / "out")
    assert read_model(out / "reference").num_reg_images() == 3


def test_cli_prepare(tmp_path):
    from vloc.cli import app

    root = make_scene(tmp_path / "scene")
    runner = CliRunner()
    result = runner.invoke(app, ["prepare", "synthetic", str(tmp_path / "out"), "--root", str(root)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "reference").is_dir()
    result = runner.invoke(app, ["prepare", "templering", str(tmp_path / "x"), "--root", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "not found" in result.output and "Traceback" not in result.output


# ---------------------------------------------------------------- the plain layout, from the command line
def write_plain_layout(root: Path) -> dict[str, Path]:
    """4 mapping and 2 query images with random poses, written as results and as camera-to-world matrices, and the
    mapping and query intrinsics in two files."""
    rng = np.random.default_rng(7)
    mapping, queries = [f"db/m{i}.png" for i in range(4)], ["q/q0.png", "q/q1.png"]
    poses = {
        n: pycolmap.Rigid3d(pycolmap.Rotation3d(rng.normal(size=3)), rng.normal(size=3)) for n in mapping + queries
    }
    for name in mapping + queries:
        (root / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / name), np.zeros((48, 64, 3), np.uint8))
    write_poses(root / "poses.txt", poses)
    matrices = {n: np.vstack([p.inverse().matrix(), [0, 0, 0, 1]]) for n, p in poses.items()}
    (root / "c2w.txt").write_text(
        "".join(f"{n} {' '.join(f'{v:.17g}' for v in m.ravel())}\n" for n, m in matrices.items())
    )
    pinhole = pycolmap.Camera(model="PINHOLE", width=64, height=48, params=[50.0, 52.0, 32.0, 24.0])
    radial = pycolmap.Camera(model="SIMPLE_RADIAL", width=64, height=48, params=[60.0, 32.0, 24.0, 0.01])
    write_queries(root / "mapping_cameras.txt", dict.fromkeys(mapping, pinhole))
    write_queries(root / "query_cameras.txt", dict.fromkeys(queries, radial))
    (root / "mapping.txt").write_text("".join(f"{n}\n" for n in mapping))
    (root / "queries.txt").write_text("".join(f"{n}\n" for n in queries))
    return {
        name: root / name
        for name in (
            "images",
            "poses.txt",
            "c2w.txt",
            "mapping_cameras.txt",
            "query_cameras.txt",
            "mapping.txt",
            "queries.txt",
        )
    }


def prepare_plain(paths: dict[str, Path], out: Path, *extra: str):
    from vloc.cli import app

    arguments = ["prepare", "plain", str(out), "--images", str(paths["images"]), "--poses", str(paths["poses.txt"])]
    arguments += [
        "--intrinsics",
        str(paths["mapping_cameras.txt"]),
        "--query-intrinsics",
        str(paths["query_cameras.txt"]),
    ]
    arguments += ["--mapping", str(paths["mapping.txt"]), "--queries", str(paths["queries.txt"]), *extra]
    return CliRunner().invoke(app, arguments)


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_plain_layout_from_the_cli_gives_the_files_of_the_python_api(tmp_path):
    paths = write_plain_layout(tmp_path / "plain")
    result = prepare_plain(paths, tmp_path / "cli")
    assert result.exit_code == 0, result.output
    adapter = PosesFile(
        paths["images"],
        paths["poses.txt"],
        paths["mapping_cameras.txt"],
        paths["mapping.txt"],
        paths["queries.txt"],
        query_intrinsics=paths["query_cameras.txt"],
    )
    api = files_of(prepare(adapter, tmp_path / "api"))
    assert files_of(tmp_path / "cli") == api
    assert sorted(api) == [
        "dataset.json",
        "ground_truth.txt",
        "mapping.txt",
        "queries.txt",
        "query_list.txt",
        "reference/cameras.bin",
        "reference/frames.bin",
        "reference/images.bin",
        "reference/points3D.bin",
        "reference/rigs.bin",
    ]
    assert json.loads(api["dataset.json"])["thresholds"] == [[0.25, 2.0], [0.5, 5.0], [5.0, 10.0]]
    queries = read_queries(tmp_path / "cli" / "queries.txt")
    assert {c.model_name for c in queries.values()} == {"SIMPLE_RADIAL"} and len(queries) == 2
    reference = read_model(tmp_path / "cli" / "reference")
    assert {c.model_name for c in reference.cameras.values()} == {"PINHOLE"} and reference.num_reg_images() == 4


def test_plain_layout_with_camera_to_world_matrices_gives_the_same_poses(tmp_path):
    paths = write_plain_layout(tmp_path / "plain")
    assert prepare_plain(paths, tmp_path / "results").exit_code == 0
    result = prepare_plain(paths, tmp_path / "c2w", "--poses", str(paths["c2w.txt"]), "--poses-format", "c2w-matrix")
    assert result.exit_code == 0, result.output
    truth, from_matrices = (read_poses(tmp_path / f / "ground_truth.txt") for f in ("results", "c2w"))
    references = [model_poses(read_model(tmp_path / f / "reference")) for f in ("results", "c2w")]
    for expected, got in [(truth, from_matrices), (references[0], references[1])]:
        assert sorted(expected) == sorted(got)
        for name in expected:
            np.testing.assert_allclose(got[name].matrix(), expected[name].matrix(), atol=1e-9)
    # a matrix whose rotation block is scaled is refused, naming its line
    text = paths["c2w.txt"].read_text().splitlines()
    tokens = text[1].split()
    tokens[1] = str(2 * float(tokens[1]))
    paths["c2w.txt"].write_text("\n".join([text[0], " ".join(tokens), *text[2:]]) + "\n")
    result = prepare_plain(paths, tmp_path / "bad", "--poses", str(paths["c2w.txt"]), "--poses-format", "c2w-matrix")
    assert_one_line_error(result, "c2w.txt:2:", "not a rotation")
    result = prepare_plain(paths, tmp_path / "bad", "--poses-format", "quaternions")
    assert_one_line_error(result, "poses format must be one of results, c2w-matrix")
    result = prepare_plain(paths, tmp_path / "bad", "--mapping", str(tmp_path / "plain"))
    assert_one_line_error(result, "--mapping", "is a folder, expected a file")
    assert not (tmp_path / "bad").exists()


def test_thresholds_set_at_prepare_time_are_those_evaluate_uses(tmp_path):
    from vloc.cli import app

    paths = write_plain_layout(tmp_path / "plain")
    result = prepare_plain(paths, tmp_path / "out", "--threshold", "0.01,1", "--threshold", "0.05,5")
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert info["thresholds"] == [[0.01, 1.0], [0.05, 5.0]]
    truth = read_poses(tmp_path / "out" / "ground_truth.txt")
    moved = truth["q/q0.png"]
    truth["q/q0.png"] = pycolmap.Rigid3d(moved.rotation, moved.translation + [0.03, 0, 0])  # 3 cm off
    write_poses(tmp_path / "results.txt", truth)
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "poses",
            str(tmp_path / "results.txt"),
            str(tmp_path / "out" / "ground_truth.txt"),
            "--dataset-json",
            str(tmp_path / "out" / "dataset.json"),
            "--out-json",
            str(tmp_path / "report.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["thresholds"] == [[0.01, 1.0], [0.05, 5.0]]
    assert report["groups"]["all"]["recall_percent"] == [50.0, 100.0]  # the 3 cm query passes 5 cm only
    result = prepare_plain(paths, tmp_path / "bad", "--threshold", "0.05")
    assert_one_line_error(result, "--threshold '0.05' is not 'metres,degrees'")
    result = prepare_plain(paths, tmp_path / "bad", "--threshold", "0,5")
    assert_one_line_error(result, "thresholds must be positive")
