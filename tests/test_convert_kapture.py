"""vloc convert kapture / to-kapture: the round trip of a COLMAP model and hloc files through kapture, kapture's
conventions read from a folder written by hand in its documented format, and bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import h5py
import numpy as np
import pycolmap
import pytest
from convert_scene import MAPPING, QUERIES
from convert_scene import build as build_scene
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.cli import app
from vloc.convert import kapture_export, kapture_import
from vloc.errors import FormatError, InputError
from vloc.io.features import FeatureReader
from vloc.io.matches import MatchReader
from vloc.io.model import read_model
from vloc.io.text import read_image_list, read_pairs, read_poses, read_queries


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict[str, Path]:
    return build_scene(tmp_path_factory.mktemp("convert") / "scene")


@pytest.fixture(scope="module")
def round_trip(scene: dict[str, Path], tmp_path_factory) -> Path:
    """The scene written as kapture (CLI), then read back (CLI)."""
    folder = tmp_path_factory.mktemp("round_trip")
    export = [
        *("convert", "to-kapture", str(scene["model"]), str(folder / "kapture"), "--images", str(scene["images"])),
        *("--queries", str(scene["queries"]), "--features", str(scene["features"])),
        *("--pairs", str(scene["pairs_mapping"]), "--matches", str(scene["matches_mapping"])),
        *("--pairs", str(scene["pairs_query"]), "--matches", str(scene["matches_query"])),
    ]
    result = CliRunner().invoke(app, export)
    assert result.exit_code == 0, result.output
    import_ = ["convert", "kapture", str(folder / "kapture"), str(folder / "out"), "--queries", str(scene["queries"])]
    result = CliRunner().invoke(app, import_)
    assert result.exit_code == 0, result.output
    return folder


def test_round_trip_gives_the_same_poses_cameras_and_points(scene: dict[str, Path], round_trip: Path):
    original, out = read_model(scene["model"]), round_trip / "out"
    reference, points = read_model(out / "reference"), read_model(out / "model")
    assert read_image_list(out / "mapping.txt") == MAPPING and read_image_list(out / "query_list.txt") == QUERIES
    for image in original.images.values():
        for converted in (reference, points):
            twin = converted.find_image_with_name(image.name)
            # trajectories are written with every digit (repr) and read back: the same float64 pose, up to the
            # quaternion's renormalisation
            pose, twin_pose = image.cam_from_world(), twin.cam_from_world()
            np.testing.assert_allclose(twin_pose.rotation.quat, pose.rotation.quat, rtol=0, atol=1e-15)
            np.testing.assert_array_equal(twin_pose.translation, pose.translation)
            camera, twin_camera = original.cameras[image.camera_id], converted.cameras[twin.camera_id]
            assert (twin_camera.model_name, twin_camera.width, twin_camera.height) == (
                camera.model_name,
                camera.width,
                camera.height,
            )
            np.testing.assert_array_equal(twin_camera.params, camera.params)
    for name, camera in read_queries(scene["queries"]).items():
        twin = read_queries(out / "queries.txt")[name]
        assert (twin.model_name, twin.width, twin.height) == (camera.model_name, camera.width, camera.height)
        np.testing.assert_array_equal(twin.params, camera.params)
    # 3D points: the same positions, colours and tracks (image, keypoint index), and keypoints at the same pixels
    assert points.num_points3D() == original.num_points3D()

    def tracks(model: pycolmap.Reconstruction) -> list[tuple]:
        names = {i: image.name for i, image in model.images.items()}
        return sorted(
            (tuple(p.xyz), tuple(p.color), tuple(sorted((names[e.image_id], e.point2D_idx) for e in p.track.elements)))
            for p in model.points3D.values()
        )

    assert tracks(points) == tracks(original)
    for image in original.images.values():
        twin = points.find_image_with_name(image.name)
        np.testing.assert_array_equal([p.xy for p in twin.points2D], [p.xy for p in image.points2D])


def test_round_trip_gives_the_same_keypoints_descriptors_and_matches(scene: dict[str, Path], round_trip: Path):
    out = round_trip / "out"
    manifest = json.loads((out / "convert.json").read_text())
    assert manifest["keypoints_type"] == "toy" and manifest["num_images_with_keypoints"] == 6
    with FeatureReader(scene["features"]) as original, FeatureReader(out / "feats-kapture-toy.h5") as converted:
        for name in MAPPING + QUERIES:
            # hloc's x, y -> kapture's x + 0.5 (float64) -> x: exact
            np.testing.assert_array_equal(converted.keypoints(name), original.keypoints(name))
            np.testing.assert_array_equal(converted.read(name).descriptors, original.read(name).descriptors)
            assert converted.image_size(name) == original.image_size(name)
    for pairs, matches, converted_pairs in (
        ("pairs_mapping", "matches_mapping", "pairs-mapping.txt"),
        ("pairs_query", "matches_query", "pairs-query.txt"),
    ):
        listed = read_pairs(scene[pairs])
        assert sorted(read_pairs(out / converted_pairs)) == sorted(listed)  # query pairs keep the query first
        with MatchReader(scene[matches]) as original, MatchReader(out / "matches-kapture-toy.h5") as converted:
            for pair in listed:
                indices, scores = original.read(*pair)
                twin_indices, twin_scores = converted.read(*pair)
                np.testing.assert_array_equal(twin_indices, indices)
                np.testing.assert_array_equal(twin_scores, scores)  # float16 -> float64 -> float16: exact


def test_kapture_export_writes_the_documented_layout(scene: dict[str, Path], round_trip: Path):
    kapture = round_trip / "kapture"
    sensors = (kapture / "sensors" / "sensors.txt").read_text().splitlines()
    assert sensors[0] == "# kapture format: 1.1"
    assert "camera2, , camera, PINHOLE, 64, 48, 80.5, 81.25, 31.5, 23.75" in sensors
    assert (kapture / "sensors" / "records_data").resolve() == scene["images"].resolve()
    keypoints = np.fromfile(kapture / "reconstruction/keypoints/toy/db/a.png.kpt", "<f8").reshape(-1, 2)
    with FeatureReader(scene["features"]) as features:
        np.testing.assert_array_equal(keypoints, features.keypoints("db/a.png").astype(np.float64) + 0.5)
    matches = np.fromfile(kapture / "reconstruction/matches/toy/db/a.png.overlapping/db/b.png.matches", "<f8")
    assert matches.reshape(-1, 3)[:, :2].min() >= 0
    # a query pair is stored under the lexicographically smaller name: 'db/...' before 'query/...'
    assert (kapture / "reconstruction/matches/toy/db/a.png.overlapping/query/q1.png.matches").is_file()


# ---------------------------------------------------------------- kapture's conventions, written by hand
QUARTER_TURN = "0.7071067811865476,  0.0, 0.7071067811865475,  0.0"  # 90 degrees about y, world to camera


def write_kapture(root: Path, sensors: str, records: str, trajectories: str | None = None, rigs: str | None = None):
    """A kapture folder as kapture's writer lays it out (version line, column comment, padded values)."""
    (root / "sensors").mkdir(parents=True)
    header = "# kapture format: 1.1\n"
    (root / "sensors" / "sensors.txt").write_text(
        header + "# sensor_id, name, sensor_type, [sensor_params]+\n" + sensors
    )
    (root / "sensors" / "records_camera.txt").write_text(header + "# timestamp, device_id, image_path\n" + records)
    if trajectories is not None:
        (root / "sensors" / "trajectories.txt").write_text(header + "# timestamp, device_id, qw, ...\n" + trajectories)
    if rigs is not None:
        (root / "sensors" / "rigs.txt").write_text(header + "# rig_id, sensor_id, qw, qx, qy, qz, tx, ty, tz\n" + rigs)
    for line in records.splitlines():
        image = root / "sensors" / "records_data" / line.split(",")[2].strip()
        image.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(image), np.zeros((48, 64), np.uint8))


def write_binary(path: Path, values: list, dtype: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.array(values, dtype).tofile(path)


@pytest.fixture()
def gallery(tmp_path: Path) -> Path:
    """A mapping kapture (two posed images, keypoints, matches, a 3D point) and a query kapture (one posed query)."""
    mapping = tmp_path / "mapping"
    write_kapture(
        mapping,
        "cam0, , camera, SIMPLE_PINHOLE, 640, 480, 500, 320, 240\n",
        "0, cam0, seq/a.jpg\n1, cam0, seq/b.jpg\n",
        # camera centres (1, 2, 3) and (1, 2, 4), both looking along -x
        f"       0, cam0, {QUARTER_TURN}, -3.0, -2.0, 0.9999999999999993\n"
        f"       1, cam0, {QUARTER_TURN}, -4.0, -2.0, 0.9999999999999991\n",
    )
    reconstruction = mapping / "reconstruction"
    (reconstruction / "keypoints" / "sift").mkdir(parents=True)
    (reconstruction / "keypoints" / "sift" / "keypoints.txt").write_text("# kapture format: 1.1\nsift, float32, 2\n")
    write_binary(reconstruction / "keypoints/sift/seq/a.jpg.kpt", [[100.5, 50.5], [320.5, 240.5]], "<f4")
    write_binary(reconstruction / "keypoints/sift/seq/b.jpg.kpt", [[10.5, 20.5]], "<f4")
    write_binary(reconstruction / "matches/sift/seq/a.jpg.overlapping/seq/b.jpg.matches", [[1, 0, 0.75]], "<f8")
    (reconstruction / "points3d.txt").write_text(
        "# kapture format: 1.1\n# X, Y, Z, R, G, B\n1.0000000000,2.0000000000,4.0000000000,10.0,20.0,30.0\n"
    )
    (reconstruction / "observations.txt").write_text(
        "# kapture format: 1.1\n# point3d_id, keypoints_type, [image_path, feature_id]*\n"
        "0, sift, seq/a.jpg, 1, seq/b.jpg, 0\n0, d2_tf, seq/a.jpg, 0\n"
    )
    write_kapture(
        tmp_path / "query",
        "phone, , camera, PINHOLE, 640, 480, 510, 505, 320, 240\n",
        "5, phone, q/x.jpg\n",
        f"5, phone, {QUARTER_TURN}, 0, 0, 0\n",
    )
    return tmp_path


def test_kapture_poses_are_world_to_camera_and_keypoints_corner_based(gallery: Path):
    out = gallery / "out"
    kapture_import.main(gallery / "mapping", out, (gallery / "query",))
    reference = read_model(out / "reference")
    image = reference.find_image_with_name("seq/a.jpg")
    np.testing.assert_allclose(image.projection_center(), [1, 2, 3], atol=1e-12)  # read as camera-to-world: -3, -2, 1
    np.testing.assert_allclose(image.viewing_direction(), [-1, 0, 0], atol=1e-12)
    assert reference.cameras[image.camera_id].params.tolist() == [500, 320, 240]
    ground_truth = read_poses(out / "ground_truth.txt")
    np.testing.assert_allclose(ground_truth["q/x.jpg"].inverse().translation, [0, 0, 0], atol=1e-12)
    assert read_queries(out / "queries.txt")["q/x.jpg"].params.tolist() == [510, 505, 320, 240]
    with FeatureReader(out / "feats-kapture-sift.h5") as features:
        # kapture's (100.5, 50.5) from the image's corner is the centre of pixel (100, 50): hloc's (100, 50)
        np.testing.assert_array_equal(features.keypoints("seq/a.jpg"), [[100, 50], [320, 240]])
        assert features.image_size("seq/a.jpg") == (640, 480)
    with MatchReader(out / "matches-kapture-sift.h5") as matches:
        indices, scores = matches.read("seq/a.jpg", "seq/b.jpg")
        assert indices.tolist() == [[1, 0]] and scores.tolist() == [0.75]
    model = read_model(out / "model")  # the sift observations only, the point seen by keypoint 1 of a and 0 of b
    (point,) = model.points3D.values()
    assert point.xyz.tolist() == [1, 2, 4] and point.color.tolist() == [10, 20, 30]
    names = {i: image.name for i, image in model.images.items()}
    assert sorted((names[e.image_id], e.point2D_idx) for e in point.track.elements) == [
        ("seq/a.jpg", 1),
        ("seq/b.jpg", 0),
    ]
    np.testing.assert_array_equal(model.find_image_with_name("seq/a.jpg").points2D[1].xy, [320.5, 240.5])
    # images in two records_data folders are linked into one image root
    assert json.loads((out / "dataset.json").read_text())["image_root"] == str((out / "images").resolve())
    assert (out / "images" / "q" / "x.jpg").resolve() == (gallery / "query/sensors/records_data/q/x.jpg").resolve()


def test_keypoints_at_pixel_indices_are_kept(gallery: Path):
    kapture_import.main(gallery / "mapping", gallery / "out", (gallery / "query",), keypoint_origin="centre")
    with FeatureReader(gallery / "out" / "feats-kapture-sift.h5") as features:
        np.testing.assert_array_equal(features.keypoints("seq/a.jpg"), [[100.5, 50.5], [320.5, 240.5]])


def test_features_kept_outside_the_kaptures(gallery: Path):
    # kapture-localization's layout: local_features/<type>/keypoints and /<type>/<method>/matches, outside the kaptures
    reconstruction, features = gallery / "mapping" / "reconstruction", gallery / "local_features" / "r2d2"
    features.mkdir(parents=True)
    shutil.move(reconstruction / "keypoints" / "sift", features / "keypoints")
    shutil.move(reconstruction / "matches" / "sift", features / "NN_no_gv")
    (reconstruction / "observations.txt").write_text("0, r2d2, seq/a.jpg, 0, seq/b.jpg, 0\n")
    manifest = kapture_import.main(
        gallery / "mapping",
        gallery / "out",
        (gallery / "query",),
        keypoints=features / "keypoints",
        matches=(features / "NN_no_gv",),
    )
    assert manifest["keypoints_type"] == "r2d2" and manifest["num_mapping_pairs"] == 1
    assert manifest["num_points3D"] == 1  # observations name the type after its folder
    with FeatureReader(gallery / "out" / "feats-kapture-r2d2.h5") as keypoints:
        np.testing.assert_array_equal(keypoints.keypoints("seq/b.jpg"), [[10, 20]])


def test_a_rig_pose_gives_its_cameras_poses(tmp_path: Path):
    # the rig at the origin, axis-aligned, at time 0; camera 'left' 0.1 m along the rig's x (sensor_from_rig: x - 0.1)
    # and 'right' 0.1 m the other way; at time 1 only 'left' has a pose, 1 m further along x
    write_kapture(
        tmp_path / "rig",
        "left, , camera, SIMPLE_PINHOLE, 64, 48, 50, 32, 24\nright, , camera, SIMPLE_PINHOLE, 64, 48, 50, 32, 24\n",
        "0, left, l0.png\n0, right, r0.png\n1, left, l1.png\n1, right, r1.png\n",
        "0, rig, 1, 0, 0, 0, 0, 0, 0\n1, left, 1, 0, 0, 0, -1.1, 0, 0\n",
        "rig, left, 1, 0, 0, 0, -0.1, 0, 0\nrig, right, 1, 0, 0, 0, 0.1, 0, 0\n",
    )
    (tmp_path / "queries.txt").write_text("r0.png\n")
    data = kapture_import.read_images(tmp_path / "rig", [], tmp_path / "queries.txt")
    assert data.mapping == ["l0.png", "l1.png", "r1.png"] and data.queries == ["r0.png"]
    centres = {name: data.poses[name].inverse().translation for name in data.poses}
    np.testing.assert_allclose(centres["l0.png"], [0.1, 0, 0])
    np.testing.assert_allclose(centres["r0.png"], [-0.1, 0, 0])
    np.testing.assert_allclose(centres["l1.png"], [1.1, 0, 0])
    np.testing.assert_allclose(centres["r1.png"], [0.9, 0, 0])  # recovered through the rig, as kapture does


def test_images_without_a_pose_that_are_not_queries_are_left_out(tmp_path: Path):
    write_kapture(
        tmp_path / "k",
        "cam, , camera, SIMPLE_PINHOLE, 64, 48, 50, 32, 24\n",
        "0, cam, a.png\n1, cam, b.png\n2, cam, c.png\n",
        "0, cam, 1, 0, 0, 0, 0, 0, 0\n",
    )
    (tmp_path / "queries.txt").write_text("c.png SIMPLE_PINHOLE 64 48 50 32 24\n")  # an hloc queries file as a list
    data = kapture_import.read_images(tmp_path / "k", [], tmp_path / "queries.txt")
    assert data.mapping == ["a.png"] and data.queries == ["c.png"] and data.unposed == ["b.png"]


# ---------------------------------------------------------------- bad inputs
def convert(*args: str):
    return CliRunner().invoke(app, ["convert", *args])


def test_an_existing_output_is_refused_unless_overwrite(gallery: Path):
    out = gallery / "out"
    args = ("kapture", str(gallery / "mapping"), str(out), "--query-kapture", str(gallery / "query"))
    assert convert(*args).exit_code == 0
    assert_one_line_error(convert(*args), str(out), "mapping.txt", "--overwrite")
    assert convert(*args, "--overwrite").exit_code == 0


def test_export_refuses_an_existing_folder_it_did_not_write(scene: dict[str, Path], tmp_path: Path):
    (tmp_path / "kapture").mkdir()
    (tmp_path / "kapture" / "mine.txt").write_text("keep me\n")
    args = ("to-kapture", str(scene["model"]), str(tmp_path / "kapture"))
    assert_one_line_error(convert(*args), "kapture: exists", "--overwrite")
    assert_one_line_error(convert(*args, "--overwrite"), "not a kapture folder written by vloc convert")
    assert (tmp_path / "kapture" / "mine.txt").read_text() == "keep me\n"
    shutil.rmtree(tmp_path / "kapture")
    assert convert(*args).exit_code == 0 and convert(*args, "--overwrite").exit_code == 0


def test_export_refuses_features_the_model_was_not_made_from(scene: dict[str, Path], tmp_path: Path):
    shifted = tmp_path / "feats-shifted.h5"
    shutil.copy(scene["features"], shifted)
    with h5py.File(shifted, "a") as handle:
        handle["db/a.png/keypoints"][0] += 1
    with pytest.raises(FormatError, match="points2D of 'db/a.png' are not the keypoints of"):
        kapture_export.main(scene["model"], tmp_path / "kapture", features=shifted)
    assert not (tmp_path / "kapture").exists()  # nothing half written


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (lambda k: (k / "sensors/sensors.txt").unlink(), ["mapping: not a kapture folder"]),
        (
            lambda k: (k / "sensors/sensors.txt").write_text("# kapture format: 2.0\ncam0, , camera, SIMPLE_PINHOLE\n"),
            ["sensors.txt: kapture format 2.0"],
        ),
        (
            lambda k: (k / "sensors/sensors.txt").write_text("cam0, , camera, KANNALA, 640, 480, 1\n"),
            ["sensors.txt:1: unknown camera model 'KANNALA'"],
        ),
        (
            lambda k: (k / "sensors/sensors.txt").write_text("cam0, , camera, SIMPLE_PINHOLE, 640, 480, 500\n"),
            ["sensors.txt:1: wrong number of parameters"],
        ),
        (
            lambda k: (k / "sensors/records_camera.txt").write_text("0, lidar0, seq/a.jpg\n"),
            ["records_camera.txt:1: device 'lidar0' is not a camera"],
        ),
        (
            lambda k: (k / "sensors/records_camera.txt").write_text("0, cam0, seq/a b.jpg\n"),
            ["records_camera.txt:1: image path 'seq/a b.jpg' contains whitespace"],
        ),
        (
            lambda k: (k / "sensors/trajectories.txt").write_text("0, cam0, 1, 0, 0, 0, 0, 0\n"),
            ["trajectories.txt:1: expected 'timestamp, device_id, qw, qx, qy, qz, tx, ty, tz'"],
        ),
        (
            lambda k: (k / "sensors/trajectories.txt").write_text("0, cam0, , , , , 1, 2, 3\n"),
            ["trajectories.txt:1: pose without rotation or translation"],
        ),
        (
            lambda k: (k / "reconstruction/keypoints/sift/seq/a.jpg.kpt").write_bytes(b"\0" * 12),
            ["a.jpg.kpt: 3 values are not rows of 2"],
        ),
        (
            lambda k: (k / "reconstruction/keypoints/sift/keypoints.txt").write_text("sift, float16, 2\n"),
            ["keypoints.txt:1: dtype 'float16' is not one of"],
        ),
        (
            lambda k: write_binary(
                k / "reconstruction/matches/sift/seq/a.jpg.overlapping/seq/b.jpg.matches", [[1, 5, 1]], "<f8"
            ),
            ["matches/sift: a match of (seq/a.jpg, seq/b.jpg) indexes a keypoint that does not exist"],
        ),
        (
            lambda k: (k / "reconstruction/observations.txt").write_text("0, sift, seq/a.jpg, 7\n"),
            ["observations.txt: point 0 observes keypoint 7 of 'seq/a.jpg', which has 2"],
        ),
        (
            lambda k: (k / "reconstruction/keypoints/sift/keypoints.tar").write_bytes(b""),
            ["keypoints.tar: kapture tar archives are not read"],
        ),
        (
            lambda k: (k / "reconstruction/keypoints/keypoints.txt").write_text("sift, float32, 2\n"),
            ["keypoints/keypoints.txt: kapture 1.0's reconstruction layout; upgrade"],
        ),
    ],
)
def test_bad_kaptures_are_one_line_errors_naming_the_file(gallery: Path, change, fragments: list[str]):
    change(gallery / "mapping")
    args = ("kapture", str(gallery / "mapping"), str(gallery / "out"), "--query-kapture", str(gallery / "query"))
    assert_one_line_error(convert(*args), *fragments)


def test_a_query_named_twice_or_unknown_is_refused(gallery: Path):
    (gallery / "list.txt").write_text("seq/zzz.jpg\n")
    with pytest.raises(InputError, match="list.txt: query 'seq/zzz.jpg' is not an image of"):
        kapture_import.main(gallery / "mapping", gallery / "out", query_list=gallery / "list.txt")
    with pytest.raises(InputError, match="mapping: no query image; give --query-kapture"):
        kapture_import.main(gallery / "mapping", gallery / "out")
    shutil.copytree(gallery / "mapping", gallery / "again")
    with pytest.raises(FormatError, match="image 'seq/a.jpg' is also an image of"):
        kapture_import.main(gallery / "mapping", gallery / "out", (gallery / "again",))


# ---------------------------------------------------------------- a real map through kapture
def test_a_map_through_kapture_localizes_the_queries_as_the_original(synthetic_map: dict[str, Path], tmp_path: Path):
    from vloc.localize import hierarchical as localize
    from vloc.pnp.absolute_pose import LocalizeConf
    from vloc.pnp.inputs import LocalizationInputs

    paths = synthetic_map
    pairs_and_matches = (
        (paths["pairs_mapping"], paths["matches_mapping"]),
        (paths["pairs_query"], paths["matches_query"]),
    )
    kapture_export.main(
        paths["model"],
        tmp_path / "kapture",
        paths["images"],
        paths["features"],
        pairs_and_matches,
        paths["queries"],
        "sift",
    )
    out = tmp_path / "out"
    kapture_import.main(tmp_path / "kapture", out, query_list=paths["queries"])
    original = LocalizationInputs(
        paths["model"], paths["queries"], paths["pairs_query"], paths["features"], paths["matches_query"]
    )
    converted = LocalizationInputs(
        out / "model",
        out / "queries.txt",
        out / "pairs-query.txt",
        out / "feats-kapture-sift.h5",
        out / "matches-kapture-sift.h5",
    )
    expected = read_poses(localize.main(LocalizeConf(), original, tmp_path / "original.txt"))
    poses = read_poses(localize.main(LocalizeConf(), converted, tmp_path / "converted.txt"))
    assert poses.keys() == expected.keys() and len(poses) == len(read_image_list(out / "query_list.txt"))
    for name, pose in poses.items():
        np.testing.assert_allclose(pose.matrix(), expected[name].matrix(), atol=1e-9)


def test_export_refuses_a_name_kapture_cannot_hold(scene: dict[str, Path], tmp_path: Path):
    (tmp_path / "queries.txt").write_text("query/a,b.png SIMPLE_PINHOLE 48 64 60 24 32\n")
    args = ("to-kapture", str(scene["model"]), str(tmp_path / "kapture"), "--queries", str(tmp_path / "queries.txt"))
    assert_one_line_error(convert(*args), "image name 'query/a,b.png' holds a comma")
    args = ("to-kapture", str(scene["model"]), str(tmp_path / "kapture"), "--pairs", str(scene["pairs_mapping"]))
    assert_one_line_error(convert(*args, "--matches", str(scene["matches_mapping"])), "matches need the features file")
