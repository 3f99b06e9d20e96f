"""RobotCar Seasons v2 recipe on a fake copy of the published layout (tests/nvm_layouts.py): the server's file names
every v2 test query once as rear/<timestamp>.jpg, cam_from_world, near the rendered truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pycolmap
import pytest
from helpers import check_submission, run_recipe
from nvm_layouts import robotcar_layout

from vloc.geometry.rigid3d import pose_errors


@pytest.fixture(scope="module")
def robotcar_run(benchmark_scene: Path, tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("robotcar-data") / "RobotCar-Seasons"
    truth = robotcar_layout(benchmark_scene, root)
    out = tmp_path_factory.mktemp("robotcar")
    run_recipe("robotcar.sh", out, None, str(root), LEARNED="0", NUM_MAPPING_PAIRS="8", NUM_RETRIEVED="6")
    return out, truth


def test_robotcar_submission_has_every_query_near_the_truth(robotcar_run):
    out, truth = robotcar_run
    expected = {f"rear/{Path(name).name}": pose for name, pose in truth["queries"].items()}
    rows = check_submission(out / "RobotCar-v2_vloc_sift-nn-ratio.txt", list(expected))
    errors = []
    for name, (qw, qx, qy, qz, *t) in rows.items():
        pose = pycolmap.Rigid3d(pycolmap.Rotation3d(np.array([qx, qy, qz, qw])), np.array(t))
        errors.append(pose_errors(pose, expected[name]))
    # measured: all 8 (4 day, 4 night) within 3 cm and 0.16 deg
    assert sum(dt < 0.25 and dr < 2 for dt, dr in errors) >= 7, errors
    summary = json.loads((out / "RobotCar-v2_vloc_sift-nn-ratio.json").read_text())
    assert summary["naming"] == "parent/basename" and summary["num_submitted"] == 8 and summary["missing"] == []
    assert not (out / "RobotCar-v2_vloc_aliked-lightglue.txt").exists()  # LEARNED=0
