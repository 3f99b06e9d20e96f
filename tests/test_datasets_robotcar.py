"""RobotCar Seasons v2 on a fake copy of its published layout: reference poses from all.nvm, the v2 test queries found
in their condition folders, per-camera intrinsics, server names, and one-line errors naming the file."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from nvm_layouts import robotcar_layout, timestamp
from typer.testing import CliRunner

from vloc.datasets import RobotCarSeasons
from vloc.errors import FormatError, InputError
from vloc.evaluate.submission import server_name
from vloc.geometry.rigid3d import camera_center
from vloc.io.text import read_image_list, read_queries


@pytest.fixture(scope="module")
def robotcar(benchmark_scene: Path, tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("robotcar") / "RobotCar-Seasons"
    return root, robotcar_layout(benchmark_scene, root)


def copy_of(robotcar: tuple[Path, dict], tmp_path: Path) -> Path:
    shutil.copytree(robotcar[0], tmp_path / "RobotCar-Seasons")
    return tmp_path / "RobotCar-Seasons"


def test_reference_poses_are_the_nvm_cameras_and_queries_the_v2_test_list(robotcar):
    root, truth = robotcar
    data = RobotCarSeasons(root).load()
    assert data.image_root == root / "images"
    assert data.mapping == sorted(truth["mapping"]) and len(data.mapping) == 16
    assert {name.split("/")[1] for name in data.mapping} == {"left", "rear", "right"}
    # in the list's order; the left-camera copies in the query conditions are not v2 test queries
    assert data.queries == list(truth["queries"]) and len(data.queries) == 8
    assert data.conditions == {name: name.split("/")[0] for name in data.queries}
    assert set(data.conditions.values()) == {"dawn", "sun", "night", "night-rain"}
    assert set(data.poses) == set(data.mapping)  # the test poses are not public
    for name, pose in data.poses.items():
        expected = truth["mapping"][name]
        np.testing.assert_allclose(camera_center(pose), camera_center(expected), atol=1e-6)
        np.testing.assert_allclose(pose.rotation.matrix()[2], expected.rotation.matrix()[2], atol=1e-9)  # viewing
    assert data.thresholds == [(0.25, 2.0), (0.5, 5.0), (5.0, 10.0)]
    assert data.submission_names == "parent/basename"
    assert server_name(data.queries[0], data.submission_names) == f"rear/{Path(data.queries[0]).name}"


def test_each_camera_has_the_intrinsics_of_its_file_at_its_image_size(robotcar, tmp_path: Path):
    root = copy_of(robotcar, tmp_path)
    (root / "intrinsics" / "left_intrinsics.txt").write_text("fx 380.5\nfy 381.5\ncx 241.25\ncy 179.75\n")
    data = RobotCarSeasons(root).load()
    for name, camera in data.cameras.items():
        assert camera.model_name == "PINHOLE" and (camera.width, camera.height) == (480, 360)
        expected = [380.5, 381.5, 241.25, 179.75] if "/left/" in name else [375, 375, 240, 180]
        np.testing.assert_allclose(camera.params, expected)


def test_a_query_list_naming_the_condition_and_jpg_is_read_too(robotcar, tmp_path: Path):
    root = copy_of(robotcar, tmp_path)
    queries = list(robotcar[1]["queries"])
    (root / "robotcar_v2_test.txt").write_text(f"{queries[7]}\n\n{queries[0]} extra\n")
    assert RobotCarSeasons(root).load().queries == [queries[7], queries[0]]


def test_prepare_writes_server_naming_intrinsics_and_the_reference(robotcar, tmp_path: Path):
    from vloc.cli import app

    root, truth = robotcar
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["prepare", "robotcar", str(out), "--root", str(root)])
    assert result.exit_code == 0, result.output
    info = json.loads((out / "dataset.json").read_text())
    assert info["submission_names"] == "parent/basename" and info["num_mapping"] == 16 and info["num_queries"] == 8
    assert info["conditions"][read_image_list(out / "query_list.txt")[0]] == "dawn"
    assert set(read_queries(out / "queries.txt")) == set(truth["queries"])
    assert (out / "ground_truth.txt").read_text() == ""


LAST_REAR = timestamp(11, "overcast-reference")  # the last rear reference image


def truncate(path: str, lines: int):
    def damage(root: Path) -> None:
        (root / path).write_text("\n".join((root / path).read_text().splitlines()[:lines]) + "\n")

    return damage


def damage_line(path: str, number: int, text: str):
    def damage(root: Path) -> None:
        lines = (root / path).read_text().splitlines()
        lines[number - 1] = text
        (root / path).write_text("\n".join(lines) + "\n")

    return damage


@pytest.mark.parametrize(
    "damage, error, message",
    [
        (
            lambda r: (r / "robotcar_v2_test.txt").unlink(),
            InputError,
            "robotcar_v2_test.txt: RobotCar Seasons v2 query",
        ),
        (
            damage_line("robotcar_v2_test.txt", 3, "rear/1417176458000001.png"),
            InputError,
            "robotcar_v2_test.txt:3: rear/1417176458000001.png is in no images/<condition>/rear/ folder",
        ),
        (
            damage_line("robotcar_v2_test.txt", 2, "front/1417176458000001.png"),
            FormatError,
            "robotcar_v2_test.txt:2: expected 'camera/<timestamp>.png'",
        ),
        (damage_line("intrinsics/rear_intrinsics.txt", 2, "fy -1"), FormatError, "rear_intrinsics.txt:2: expected 'fy"),
        (damage_line("intrinsics/right_intrinsics.txt", 4, "k1 0"), FormatError, "right_intrinsics.txt: no cy line"),
        (lambda r: (r / "intrinsics/left_intrinsics.txt").unlink(), InputError, "left_intrinsics.txt: left camera"),
        (
            damage_line("3D-models/all-merged/all.nvm", 5, "./overcast-reference/x.png 375 1 0 0 0 0 0 0 0 0"),
            FormatError,
            "all.nvm:5: ./overcast-reference/x.png is in no left/rear/right folder",
        ),
        (truncate("3D-models/all-merged/all.nvm", 6), FormatError, "all.nvm:6: the file ends before camera 4 of 16"),
        (lambda r: shutil.rmtree(r / "3D-models"), InputError, "all.nvm: RobotCar Seasons reference model not found"),
        (
            lambda r: sorted((r / "images" / "overcast-reference" / "rear").iterdir())[-1].unlink(),
            InputError,
            "robotcar-seasons-v2: image {root}/images/overcast-reference/rear/" + f"{LAST_REAR}.jpg not found",
        ),
    ],
)
def test_bad_layouts_fail_in_one_line_naming_the_file(robotcar, tmp_path: Path, damage, error, message: str):
    root = copy_of(robotcar, tmp_path)
    damage(root)
    with pytest.raises(error, match=re.escape(message.format(root=root))) as raised:
        data = RobotCarSeasons(root).load()
        data.check()
    assert "\n" not in str(raised.value)
