"""The Aachen Day-Night v1.1 recipe on a fake copy of the release (fake_aachen.py): the server's file, poses that land
on the rendered truth."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pycolmap
import pytest
from fake_aachen import build
from helpers import Run, check_submission, run_recipe

from vloc.geometry.rigid3d import pose_errors


@pytest.fixture(scope="module")
def aachen(benchmark_scene: Path, tmp_path_factory) -> tuple[Run, dict[str, pycolmap.Rigid3d]]:
    """aachen.sh, weight-free configuration only, on the fake release; with the rendered truth by Aachen name."""
    folder = tmp_path_factory.mktemp("aachen")
    truth = build(benchmark_scene, folder / "aachen_v1.1")
    out = folder / "out"
    return Run(out, run_recipe("aachen.sh", out, None, str(folder / "aachen_v1.1"), LEARNED="0")), truth


def test_aachen_recipe_writes_the_servers_file_of_every_query(aachen):
    run, truth = aachen
    queries = [name for name in truth if name.startswith("query/")]
    rows = check_submission(run.out / "Aachen-v1.1_vloc_sift-nn-ratio.txt", [PurePosixPath(n).name for n in queries])
    assert len(rows) == 8
    summary = json.loads((run.out / "Aachen-v1.1_vloc_sift-nn-ratio.json").read_text())
    assert summary["naming"] == "basename" and summary["missing"] == []
    assert not (run.out / "Aachen-v1.1_vloc_aliked-lightglue.txt").exists()  # LEARNED=0


def conditions_close_to_truth(submission: Path, truth: dict[str, pycolmap.Rigid3d]) -> list[str]:
    """The condition (day, night) of each submitted query within (0.25 m, 2 deg) of the truth, its numbers read as
    cam_from_world (qw qx qy qz tx ty tz)."""
    rows = check_submission(submission, [PurePosixPath(n).name for n in truth if n.startswith("query/")])
    by_file = {PurePosixPath(n).name: n for n in truth}
    close = []
    for name, (qw, qx, qy, qz, tx, ty, tz) in rows.items():
        pose = pycolmap.Rigid3d(pycolmap.Rotation3d([qx, qy, qz, qw]), [tx, ty, tz])
        metres, degrees = pose_errors(pose, truth[by_file[name]])
        if metres < 0.25 and degrees < 2:
            close.append(by_file[name].split("/")[1])
    return close


def test_aachen_recipe_localizes_day_and_night_queries_on_the_rendered_truth(aachen):
    """Measured: all 8 queries within 3.7 cm and 0.22 deg, none a fallback."""
    run, truth = aachen
    close = conditions_close_to_truth(run.out / "Aachen-v1.1_vloc_sift-nn-ratio.txt", truth)
    assert close.count("day") >= 3 and close.count("night") >= 3
    assert len(json.loads((run.out / "Aachen-v1.1_vloc_sift-nn-ratio.json").read_text())["fallbacks"]) <= 2
