"""vloc/datasets/aachen.py: Aachen Day-Night v1.1 read from its published layout (a fake one, fake_aachen.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pycolmap
import pytest
from fake_aachen import build
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.cli import app
from vloc.datasets import AachenDayNight, prepare
from vloc.geometry.rigid3d import camera_center


@pytest.fixture(scope="module")
def aachen(benchmark_scene: Path, tmp_path_factory) -> tuple[Path, dict[str, pycolmap.Rigid3d]]:
    """The fake release and the rendered truth of its images (cam_from_world, by Aachen name)."""
    root = tmp_path_factory.mktemp("aachen") / "aachen_v1.1"
    return root, build(benchmark_scene, root)


def broken_copy(root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "aachen_v1.1"
    shutil.copytree(root, copy)
    return copy


def prepare_cli(root: Path, out: Path):
    return CliRunner().invoke(app, ["prepare", "aachen", str(out), "--root", str(root)])


def test_aachen_maps_the_model_images_and_queries_both_lists(aachen):
    root, truth = aachen
    data = AachenDayNight(root).load()
    data.check()
    assert data.image_root == root / "images" / "images_upright"
    assert data.mapping == sorted(n for n in truth if not n.startswith("query/"))
    assert {n.split("/")[0] for n in data.mapping} == {"db", "sequences"}  # v1.1's sequences map too
    assert sorted(data.queries) == sorted(n for n in truth if n.startswith("query/"))
    assert data.conditions == {n: n.split("/")[1] for n in data.queries}
    assert sorted(data.poses) == data.mapping  # query poses are the server's
    assert data.thresholds == [(0.25, 2.0), (0.5, 5.0), (5.0, 10.0)]
    assert data.submission_names == "basename"


def test_aachen_poses_are_the_reference_models_cam_from_world(aachen):
    """The model's pose of each database image puts its camera where the renderer put it, looking the same way."""
    root, truth = aachen
    data = AachenDayNight(root).load()
    for name in data.mapping:
        pose = data.poses[name]
        assert np.allclose(camera_center(pose), camera_center(truth[name]), atol=1e-6)
        assert np.allclose(pose.rotation.matrix()[2], truth[name].rotation.matrix()[2], atol=1e-9)  # optical axis


def test_aachen_query_intrinsics_come_from_the_query_lists(aachen, tmp_path):
    root, _ = aachen
    copy = broken_copy(root, tmp_path)
    night = copy / "queries" / "night_time_queries_with_intrinsics.txt"
    first, *rest = night.read_text().splitlines()
    night.write_text("\n".join([f"{first.split()[0]} SIMPLE_RADIAL 480 360 380.5 241 179 -0.01", *rest]) + "\n")
    data = AachenDayNight(copy).load()
    camera = data.cameras[first.split()[0]]
    assert camera.model_name == "SIMPLE_RADIAL" and (camera.width, camera.height) == (480, 360)
    assert camera.params.tolist() == [380.5, 241, 179, -0.01]


def test_prepare_aachen_writes_the_server_naming_and_no_ground_truth(aachen, tmp_path):
    root, truth = aachen
    out = prepare(AachenDayNight(root), tmp_path / "prepared")
    info = json.loads((out / "dataset.json").read_text())
    assert info["submission_names"] == "basename" and info["num_queries"] == 8 and info["num_mapping"] == 16
    assert sorted(info["conditions"].values()) == ["day"] * 4 + ["night"] * 4
    assert (out / "ground_truth.txt").read_text() == ""
    assert len((out / "queries.txt").read_text().splitlines()) == 8


def test_aachen_reads_hlocs_pipeline_layout_and_a_text_model(benchmark_scene, tmp_path):
    """images_upright/ at the top (hloc's pipeline.py) and the reference model as COLMAP text."""
    root = tmp_path / "aachen_v1.1"
    truth = build(benchmark_scene, root, image_folder="images_upright")
    model_folder = root / "3D-models" / "aachen_v_1_1"
    model = pycolmap.Reconstruction(model_folder)
    shutil.rmtree(model_folder)
    model_folder.mkdir()
    model.write_text(model_folder)
    data = AachenDayNight(root).load()
    data.check()
    assert data.image_root == root / "images_upright"
    assert len(data.mapping) == 16 and len(data.queries) == 8 and set(data.mapping) < set(truth)


@pytest.mark.parametrize(
    ("damage", "fragments"),
    [
        (lambda root: shutil.rmtree(root / "images"), ["images/images_upright or images_upright folder"]),
        (lambda root: shutil.rmtree(root / "3D-models"), ["3D-models/aachen_v_1_1: Aachen v1.1 reference model"]),
        (
            lambda root: (root / "queries" / "night_time_queries_with_intrinsics.txt").unlink(),
            ["night_time_queries_with_intrinsics.txt: Aachen v1.1 night query list not found"],
        ),
        (
            lambda root: (root / "queries" / "day_time_queries_with_intrinsics.txt").write_text(
                "query/day/a.jpg PINHOLE 1\n"
            ),
            ["day_time_queries_with_intrinsics.txt:1:", "expected 'name MODEL width height params...'"],
        ),
        (
            lambda root: (root / "queries" / "night_time_queries_with_intrinsics.txt").write_text(
                (root / "queries" / "day_time_queries_with_intrinsics.txt").read_text()
            ),
            ["night_time_queries_with_intrinsics.txt: query query/day/", "is also a day query"],
        ),
        (
            lambda root: (root / "images" / "images_upright" / "db" / "2000.jpg").unlink(),
            ["db/2000.jpg not found"],
        ),
    ],
    ids=["no-images", "no-model", "no-night-list", "bad-intrinsics", "query-in-both-lists", "missing-image"],
)
def test_aachen_layout_errors_are_one_line_and_name_the_file(aachen, tmp_path, damage, fragments):
    copy = broken_copy(aachen[0], tmp_path)
    damage(copy)
    assert_one_line_error(prepare_cli(copy, tmp_path / "out"), *fragments)
