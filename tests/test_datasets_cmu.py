"""vloc/datasets/cmu.py: an Extended CMU Seasons slice read from its published layout (a fake one, fake_cmu.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pycolmap
import pytest
from fake_cmu import build
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.cli import app
from vloc.datasets import ExtendedCMUSeasons, prepare
from vloc.geometry.rigid3d import camera_center
from vloc.io.text import read_poses


@pytest.fixture(scope="module")
def cmu(benchmark_scene: Path, tmp_path_factory) -> tuple[Path, dict[str, pycolmap.Rigid3d]]:
    """Fake slice 22 (frames 5-11, with query poses in camera-poses/) and its rendered truth, by name in the slice."""
    root = tmp_path_factory.mktemp("cmu")
    return root / "slice22", build(benchmark_scene, root, 22, range(5, 12), query_poses=True)


def broken_copy(folder: Path, tmp_path: Path, name: str = "slice22") -> Path:
    copy = tmp_path / name
    shutil.copytree(folder, copy)
    return copy


def test_cmu_slice_maps_the_sparse_model_and_queries_the_test_list(cmu):
    folder, truth = cmu
    data = ExtendedCMUSeasons(folder).load()
    data.check()
    assert data.image_root == folder
    assert data.mapping == sorted(n for n in truth if n.startswith("database/")) and len(data.mapping) == 10
    listed = (folder / "test-images-slice22.txt").read_text().split()
    assert data.queries == [f"query/{name}" for name in listed] and len(listed) == 4
    assert data.conditions == dict.fromkeys(data.queries, "park")  # slices 18-25
    assert data.thresholds == [(0.25, 2.0), (0.5, 5.0), (5.0, 10.0)]
    assert data.submission_names == "basename"


def test_cmu_query_intrinsics_are_the_releases_two_cameras(cmu):
    """intrinsics.txt of the release: OPENCV 1024x768, fx fy cx cy k1 k2 p1 p2, chosen by the name's _c0_ / _c1_."""
    folder, _ = cmu
    data = ExtendedCMUSeasons(folder).load()
    published = {
        "c0": [868.993378, 866.063001, 525.942323, 420.042529, -0.399431, 0.188924, 0.000153, 0.000571],
        "c1": [873.382641, 876.489513, 529.324138, 397.272397, -0.397066, 0.181925, 0.000176, -0.000579],
    }
    assert {name.split("_")[2] for name in data.queries} == {"c0", "c1"}
    for name in data.queries:
        camera = data.cameras[name]
        assert (camera.model_name, camera.width, camera.height) == ("OPENCV", 1024, 768)
        assert camera.params.tolist() == published[name.split("_")[2]]


def test_cmu_poses_put_the_cameras_where_the_renderer_did(cmu):
    """The sparse model's database poses and camera-poses/ ('name qw qx qy qz cx cy cz', C the camera centre) both give
    each camera's centre and optical axis."""
    folder, truth = cmu
    data = ExtendedCMUSeasons(folder).load()
    assert sorted(data.poses) == sorted(truth)  # slice 22 has the poses of its queries too
    for name, pose in data.poses.items():
        assert np.allclose(camera_center(pose), camera_center(truth[name]), atol=1e-6)
        assert np.allclose(pose.rotation.matrix()[2], truth[name].rotation.matrix()[2], atol=1e-6)
    # the file itself: the last three numbers are the centre, not the translation
    query = data.queries[0]
    (line,) = [
        line
        for line in (folder / "camera-poses" / "slice22.txt").read_text().splitlines()
        if line.startswith(Path(query).name)
    ]
    assert np.allclose([float(v) for v in line.split()[5:]], camera_center(truth[query]), atol=1e-6)


def test_prepare_cmu_writes_query_ground_truth_only_where_the_release_has_it(cmu, tmp_path):
    folder, truth = cmu
    out = prepare(ExtendedCMUSeasons(folder), tmp_path / "with")
    assert sorted(read_poses(out / "ground_truth.txt")) == sorted(n for n in truth if n.startswith("query/"))
    info = json.loads((out / "dataset.json").read_text())
    assert info["name"] == "cmu-slice22" and info["submission_names"] == "basename" and info["num_queries"] == 4
    copy = broken_copy(folder, tmp_path / "without")
    shutil.rmtree(copy / "camera-poses")
    out = prepare(ExtendedCMUSeasons(copy), tmp_path / "without" / "prepared")
    assert (out / "ground_truth.txt").read_text() == ""


def test_cmu_scenes_follow_the_slice_number(cmu, tmp_path):
    """Urban 2-8, suburban 9-17, park 18-25 (the release's README); the sparse model may be binary."""
    folder, _ = cmu
    for number, scene in ((2, "urban"), (8, "urban"), (9, "suburban"), (17, "suburban"), (18, "park")):
        copy = broken_copy(folder, tmp_path, f"slice{number}")
        (copy / "test-images-slice22.txt").rename(copy / f"test-images-slice{number}.txt")
        model = pycolmap.Reconstruction(copy / "sparse")
        shutil.rmtree(copy / "sparse")
        (copy / "sparse").mkdir()
        model.write_binary(copy / "sparse")
        data = ExtendedCMUSeasons(copy).load()
        assert set(data.conditions.values()) == {scene} and len(data.mapping) == 10


@pytest.mark.parametrize(
    ("damage", "folder_name", "fragments"),
    [
        (lambda slice_: None, "slice26", ["slice26: not an Extended CMU Seasons slice folder (slice2 ... slice25)"]),
        (lambda slice_: None, "cmu22", ["cmu22: not an Extended CMU Seasons slice folder"]),
        (lambda slice_: shutil.rmtree(slice_ / "sparse"), "slice22", ["sparse: Extended CMU Seasons reference model"]),
        (
            lambda slice_: (slice_ / "test-images-slice22.txt").unlink(),
            "slice22",
            ["test-images-slice22.txt: Extended CMU Seasons query list not found"],
        ),
        (
            lambda slice_: (slice_ / "test-images-slice22.txt").write_text("img_00001_1283000000000001us.jpg\n"),
            "slice22",
            ["test-images-slice22.txt: query img_00001_1283000000000001us.jpg names neither camera"],
        ),
        (
            lambda slice_: (slice_ / "camera-poses" / "slice22.txt").write_text("img_1_c0_1us.jpg 1 0 0 0 1 2\n"),
            "slice22",
            ["camera-poses/slice22.txt:1:", "expected 'name qw qx qy qz tx ty tz'"],
        ),
        (lambda slice_: shutil.rmtree(slice_ / "query"), "slice22", ["slice22/query/img_220", "not found"]),
    ],
    ids=["slice-26", "not-a-slice", "no-model", "no-query-list", "no-camera-infix", "bad-camera-poses", "no-queries"],
)
def test_cmu_layout_errors_are_one_line_and_name_the_file(cmu, tmp_path, damage, folder_name, fragments):
    copy = broken_copy(cmu[0], tmp_path, folder_name)
    damage(copy)
    result = CliRunner().invoke(app, ["prepare", "cmu", str(tmp_path / "out"), "--root", str(copy)])
    assert_one_line_error(result, *fragments)
