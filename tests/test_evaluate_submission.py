"""vloc evaluate submission: every query once, named as the server names it; missing and foreign poses refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pycolmap
import pytest
from helpers import assert_one_line_error, check_submission
from typer.testing import CliRunner

from vloc.cli import app
from vloc.evaluate.submission import server_name
from vloc.io.dataset_info import write_dataset_json
from vloc.io.text import write_poses, write_results

QUERIES = ["query/night/nexus5x/IMG_1.jpg", "query/day/milestone/IMG_2.jpg", "rear/3.jpg"]


def _dataset(folder: Path, naming: str) -> Path:
    folder.mkdir()
    (folder / "query_list.txt").write_text("".join(f"{n}\n" for n in QUERIES))
    write_dataset_json(folder / "dataset.json", {"name": "fake", "thresholds": [[1, 1]], "submission_names": naming})
    return folder / "dataset.json"


def _pose(seed: int) -> pycolmap.Rigid3d:
    rng = np.random.default_rng(seed)
    quaternion = rng.normal(size=4)
    return pycolmap.Rigid3d(pycolmap.Rotation3d(quaternion / np.linalg.norm(quaternion)), rng.normal(size=3))


@pytest.mark.parametrize(
    ("naming", "names"),
    [
        ("basename", ["IMG_1.jpg", "IMG_2.jpg", "3.jpg"]),
        ("parent/basename", ["nexus5x/IMG_1.jpg", "milestone/IMG_2.jpg", "rear/3.jpg"]),
        ("as-is", QUERIES),
    ],
)
def test_every_query_once_named_as_the_server_names_it(tmp_path: Path, naming: str, names: list[str]):
    dataset_json = _dataset(tmp_path / "dataset", naming)
    poses = {name: _pose(k) for k, name in enumerate(QUERIES)}
    logs = [{"name": n, "fallback": n == QUERIES[2]} for n in QUERIES]
    results = write_results(tmp_path / "results.txt", poses, {}, logs)
    out = tmp_path / "submission.txt"
    result = CliRunner().invoke(app, ["evaluate", "submission", str(results), str(dataset_json), str(out)])
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert "3/3 queries written" in printed and "1 of them fallbacks" in printed
    rows = check_submission(out, names)
    for name, submitted in zip(QUERIES, names):
        pose = poses[name]
        assert np.allclose(rows[submitted][[1, 2, 3, 0]], pose.rotation.quat, atol=1e-9)  # w first, as COLMAP
        assert np.allclose(rows[submitted][4:], pose.translation, atol=1e-9)
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["num_submitted"] == 3 and summary["fallbacks"] == [QUERIES[2]] and summary["missing"] == []


def test_missing_foreign_and_colliding_queries_are_one_line_errors(tmp_path: Path):
    dataset_json = _dataset(tmp_path / "dataset", "basename")
    out = tmp_path / "submission.txt"
    command = ["evaluate", "submission", str(tmp_path / "results.txt"), str(dataset_json), str(out)]

    write_poses(tmp_path / "results.txt", {QUERIES[0]: _pose(0)})
    assert_one_line_error(CliRunner().invoke(app, command), "2 of 3 queries have no pose", "--allow-missing")
    assert not out.exists()
    result = CliRunner().invoke(app, [*command, "--allow-missing"])
    assert result.exit_code == 0, result.output
    check_submission(out, ["IMG_1.jpg"])
    assert json.loads(out.with_suffix(".json").read_text())["missing"] == QUERIES[1:]

    write_poses(tmp_path / "results.txt", {name: _pose(0) for name in [*QUERIES, "db/1.jpg"]})
    assert_one_line_error(CliRunner().invoke(app, command), "1 poses of images that are not queries", "db/1.jpg")

    (dataset_json.parent / "query_list.txt").write_text("a/IMG_1.jpg\nb/IMG_1.jpg\n")
    write_poses(tmp_path / "results.txt", {"a/IMG_1.jpg": _pose(0), "b/IMG_1.jpg": _pose(1)})
    assert_one_line_error(CliRunner().invoke(app, command), "are both 'IMG_1.jpg' on the server")


def test_server_names():
    assert server_name("a/b/c.jpg", "parent/basename") == "b/c.jpg"
    assert server_name("c.jpg", "parent/basename") == "c.jpg"
    assert server_name("a/b/c.jpg", "basename") == "c.jpg"
    with pytest.raises(Exception, match="unknown submission naming"):
        server_name("c.jpg", "stem")
