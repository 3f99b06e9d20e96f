"""vloc convert colmap / hloc: a COLMAP model (with its database) and an hloc outputs folder into the files the stages
read, the map without the queries, and bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pycolmap
import pytest
from convert_scene import MAPPING, QUERIES
from convert_scene import build as build_scene
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.cli import app
from vloc.convert import colmap_import, hloc_import
from vloc.errors import FormatError, InputError
from vloc.io.features import FeatureReader
from vloc.io.matches import MatchReader
from vloc.io.model import read_model
from vloc.io.text import read_image_list, read_pairs, read_poses, read_queries


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict[str, Path]:
    return build_scene(tmp_path_factory.mktemp("convert") / "scene")


def convert(*args: str):
    return CliRunner().invoke(app, ["convert", *args])


# ---------------------------------------------------------------- COLMAP
@pytest.fixture(scope="module")
def database(scene: dict[str, Path]) -> Path:
    """The COLMAP database of the scene's model: its cameras and images (same ids), keypoints (COLMAP's convention),
    SIFT-like byte descriptors and the mapping pairs' matches as verified two-view geometries."""
    path = scene["model"].parent / "database.db"
    model = read_model(scene["model"])
    with pycolmap.Database.open(path) as db, FeatureReader(scene["features"]) as features:
        for camera in model.cameras.values():
            db.write_camera(camera, use_camera_id=True)
        for image in model.images.values():
            db.write_image(pycolmap.Image(name=image.name, camera_id=image.camera_id, image_id=image.image_id), True)
            db.write_keypoints(image.image_id, features.keypoints(image.name) + np.float32(0.5))
            data = (np.abs(features.read(image.name).descriptors.T) * 100).astype(np.uint8)
            db.write_descriptors(image.image_id, pycolmap.FeatureDescriptors(pycolmap.FeatureExtractorType.SIFT, data))
        ids = {image.name: image.image_id for image in model.images.values()}
        with MatchReader(scene["matches_mapping"]) as matches:
            for pair in read_pairs(scene["pairs_mapping"]):
                geometry = pycolmap.TwoViewGeometry()
                geometry.config = pycolmap.TwoViewGeometryConfiguration.CALIBRATED
                geometry.inlier_matches = matches.read(*pair)[0].astype(np.uint32)
                db.write_two_view_geometry(ids[pair[0]], ids[pair[1]], geometry)
    return path


def test_colmap_model_and_database_become_features_matches_and_a_map_without_the_queries(
    scene: dict[str, Path], database: Path, tmp_path: Path
):
    (tmp_path / "held_out.txt").write_text("db/d.png\n")
    out = tmp_path / "out"
    args = [
        str(scene["model"]),
        str(out),
        "--images",
        str(scene["images"]),
        "--queries",
        str(tmp_path / "held_out.txt"),
    ]
    result = convert("colmap", *args, "--query-intrinsics", str(scene["queries"]), "--database", str(database))
    assert result.exit_code == 0, result.output
    assert read_image_list(out / "mapping.txt") == MAPPING[:3]
    assert read_image_list(out / "query_list.txt") == ["db/d.png", *QUERIES]
    original = read_model(scene["model"])
    truth = original.find_image_with_name("db/d.png").cam_from_world()
    assert read_poses(out / "ground_truth.txt")["db/d.png"].translation.tolist() == pytest.approx(
        truth.translation.tolist(), abs=1e-9
    )
    assert set(read_queries(out / "queries.txt")) == {"db/d.png", *QUERIES}
    # the map: the model's points (those still seen twice) without the held-out query
    model = read_model(out / "model")
    assert model.find_image_with_name("db/d.png") is None and model.num_reg_images() == 3
    positions = {tuple(point.xyz) for point in original.points3D.values()}
    assert 0 < model.num_points3D() <= original.num_points3D()
    assert all(tuple(point.xyz) in positions and point.track.length() >= 2 for point in model.points3D.values())
    with FeatureReader(scene["features"]) as features, FeatureReader(out / "feats-colmap.h5") as converted:
        for name in MAPPING:  # COLMAP's keypoints - 0.5: hloc's again, exactly
            np.testing.assert_array_equal(converted.keypoints(name), features.keypoints(name))
            assert converted.read(name).descriptors.dtype == np.uint8
    assert sorted(read_pairs(out / "pairs-mapping.txt")) == sorted(
        pair for pair in read_pairs(scene["pairs_mapping"]) if "db/d.png" not in pair
    )
    with MatchReader(scene["matches_mapping"]) as matches, MatchReader(out / "matches-colmap.h5") as converted:
        pair = ("db/a.png", "db/b.png")
        np.testing.assert_array_equal(converted.read(*pair)[0], matches.read(*pair)[0])
    # the held-out query's verified matches with the map are query pairs, the query first
    assert ("db/d.png", "db/a.png") in read_pairs(out / "pairs-query.txt")


def test_colmap_without_a_database_writes_the_prepared_files_only(scene: dict[str, Path], tmp_path: Path):
    manifest = colmap_import.main(scene["model"], tmp_path / "out", scene["images"], None, scene["queries"])
    assert manifest["num_mapping"] == 4 and manifest["num_queries"] == 2 and manifest["num_ground_truth"] == 0
    assert not (tmp_path / "out" / "model").exists()  # its points2D are keypoints of no file vloc has
    assert (tmp_path / "out" / "reference").is_dir() and (tmp_path / "out" / "dataset.json").is_file()


def test_colmap_bad_inputs(scene: dict[str, Path], database: Path, tmp_path: Path):
    args = [str(scene["model"]), str(tmp_path / "out"), "--images", str(scene["images"])]
    assert_one_line_error(convert("colmap", *args), "model: no queries; give --queries")
    (tmp_path / "list.txt").write_text("query/elsewhere.png\n")
    assert_one_line_error(
        convert("colmap", *args, "--queries", str(tmp_path / "list.txt")), "query query/elsewhere.png is not a posed"
    )
    assert_one_line_error(
        convert("colmap", *args, "--query-intrinsics", str(scene["queries"]), "--database", str(tmp_path / "no.db")),
        "--database",
        "file not found",
    )
    model = read_model(scene["model"])  # a database of more keypoints than the model's points2D
    counts = {image.name: image.num_points2D() + 1 for image in model.images.values()}
    with pytest.raises(
        FormatError, match=r"other.db: image '\S+' has (\d+) keypoints but \d+ points2D in the model: not the database"
    ):
        colmap_import.check_points2d(model, counts, tmp_path / "other.db")


@pytest.mark.parametrize("side", [0, 1])
def test_colmap_database_with_a_match_beyond_the_keypoints_is_a_one_line_error(
    scene: dict[str, Path], database: Path, tmp_path: Path, side: int
):
    corrupt, name = tmp_path / "corrupt.db", ("db/a.png", "db/b.png")[side]
    shutil.copyfile(database, corrupt)
    with pycolmap.Database.open(corrupt) as db:
        ids = {image.name: image.image_id for image in db.read_all_images()}
        count = db.read_keypoints(ids[name]).shape[0]
        geometry = db.read_two_view_geometry(ids["db/a.png"], ids["db/b.png"])
        inliers = geometry.inlier_matches.copy()
        inliers[0, side] = count  # one past the last keypoint
        geometry.inlier_matches = inliers
        db.delete_two_view_geometry(ids["db/a.png"], ids["db/b.png"])
        db.write_two_view_geometry(ids["db/a.png"], ids["db/b.png"], geometry)
    args = [str(scene["model"]), str(tmp_path / "out"), "--images", str(scene["images"])]
    assert_one_line_error(
        convert("colmap", *args, "--query-intrinsics", str(scene["queries"]), "--database", str(corrupt)),
        "corrupt.db: a verified match of db/a.png and db/b.png names keypoint",
        f"of {name}, which has {count}",
    )
    assert not (tmp_path / "out" / "matches-colmap.h5").exists()


# ---------------------------------------------------------------- hloc
@pytest.fixture(scope="module")
def hloc_outputs(scene: dict[str, Path], tmp_path_factory) -> Path:
    """An hloc outputs folder: sfm_toy/ (the model, beside hloc's database.db), the features in float16 as hloc
    stores them, a features file of other keypoints sorted before it, pairs and matches named as hloc names them,
    and the queries file with intrinsics."""
    outputs = tmp_path_factory.mktemp("hloc") / "outputs"
    shutil.copytree(scene["model"], outputs / "sfm_toy")
    (outputs / "sfm_toy" / "database.db").write_bytes(b"")
    with h5py.File(scene["features"]) as source, h5py.File(outputs / "feats-toy.h5", "w") as half:
        for name in MAPPING + QUERIES:
            half.create_dataset(f"{name}/keypoints", data=source[name]["keypoints"][()].astype(np.float16))
            half.create_dataset(f"{name}/descriptors", data=source[name]["descriptors"][()].astype(np.float16))
    # the model must match the float16 keypoints, as hloc's triangulation from that file gives
    model = read_model(scene["model"])
    with FeatureReader(outputs / "feats-toy.h5") as features:
        for image in model.images.values():
            for point, xy in zip(image.points2D, features.keypoints(image.name)):
                point.xy = xy.astype(np.float64) + 0.5
    model.write_binary(outputs / "sfm_toy")
    shutil.copy(scene["features"], outputs / "feats-decoy.h5")
    with h5py.File(outputs / "feats-decoy.h5", "a") as decoy:
        for name in MAPPING:
            decoy[name]["keypoints"][...] += 3
    shutil.copy(scene["pairs_mapping"], outputs / "pairs-db-covis5.txt")
    shutil.copy(scene["pairs_query"], outputs / "pairs-query-netvlad5.txt")
    shutil.copy(scene["matches_query"], outputs / "feats-toy_matches-nn_pairs-query-netvlad5.h5")
    shutil.copy(scene["queries"], outputs / "query_list_with_intrinsics.txt")
    return outputs


def test_hloc_outputs_become_the_prepared_files_and_the_map(scene: dict[str, Path], hloc_outputs: Path, tmp_path: Path):
    out = tmp_path / "out"
    result = convert("hloc", str(hloc_outputs), str(out), "--images", str(scene["images"]))
    assert result.exit_code == 0, result.output
    assert read_image_list(out / "mapping.txt") == MAPPING and read_image_list(out / "query_list.txt") == QUERIES
    assert read_queries(out / "queries.txt").keys() == read_queries(scene["queries"]).keys()
    manifest = json.loads((out / "convert.json").read_text())
    assert manifest["features"] == str(hloc_outputs / "feats-toy.h5")  # not the decoy, whose keypoints moved
    assert manifest["query_pairs"] == [
        {
            "pairs": str(hloc_outputs / "pairs-query-netvlad5.txt"),
            "matches": str(hloc_outputs / "feats-toy_matches-nn_pairs-query-netvlad5.h5"),
        }
    ]
    assert [entry["pairs"] for entry in manifest["mapping_pairs"]] == [str(hloc_outputs / "pairs-db-covis5.txt")]
    original, model = read_model(hloc_outputs / "sfm_toy"), read_model(out / "model")
    assert model.num_points3D() == original.num_points3D()
    for image in original.images.values():
        twin = model.find_image_with_name(image.name)
        assert twin.cam_from_world().translation.tolist() == image.cam_from_world().translation.tolist()


def test_hloc_bad_inputs(scene: dict[str, Path], hloc_outputs: Path, tmp_path: Path):
    with pytest.raises(FormatError, match="feats-decoy.h5: its keypoints are not the points2D of the model"):
        hloc_import.main(hloc_outputs, tmp_path / "out", scene["images"], features=hloc_outputs / "feats-decoy.h5")
    two_models = tmp_path / "two"
    shutil.copytree(hloc_outputs, two_models)
    shutil.copytree(two_models / "sfm_toy", two_models / "sfm_other")
    with pytest.raises(FormatError, match="several COLMAP models \\(sfm_other, sfm_toy\\); choose one with --model"):
        hloc_import.main(two_models, tmp_path / "out", scene["images"])
    (two_models / "query_list_with_intrinsics.txt").unlink()
    with pytest.raises(InputError, match="no queries file with intrinsics"):
        hloc_import.main(two_models, tmp_path / "out", scene["images"], model=two_models / "sfm_toy")
