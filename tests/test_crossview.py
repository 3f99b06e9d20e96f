"""vloc crossview localize and evaluate: poses, logs and drawings for the chosen views, metrics against the ground
truth and the priors, and one-line errors for what localization cannot work without."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import TINY_CROSSVIEW_SCENES, TINY_DENSEFLOW
from typer.testing import CliRunner

from vloc.cli import app
from vloc.crossview.evaluate import evaluate, read_planar_poses
from vloc.errors import FormatError
from vloc.io.crossview import read_crossview
from vloc.models.checkpoint import save_checkpoint
from vloc.models.crossview import DenseFlowNetwork
from vloc.synth.crossview import main as synth_crossview


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("crossview")
    synth_crossview(TINY_CROSSVIEW_SCENES, root / "data")
    torch.manual_seed(0)
    save_checkpoint(root / "net.pt", DenseFlowNetwork(TINY_DENSEFLOW))
    return root


def run(*args):
    return CliRunner().invoke(app, ["crossview", *map(str, args)])


@pytest.mark.parametrize("method", ["flow", "correlation"])
def test_localize_writes_poses_a_log_and_drawings_and_evaluate_reads_them(setup, tmp_path, method):
    out = tmp_path / "poses.txt"
    result = run(
        "localize",
        setup / "data",
        setup / "net.pt",
        out,
        "--split",
        "test",
        "--condition",
        "night",
        "--method",
        method,
        "--draw",
        tmp_path / "drawings",
    )
    assert result.exit_code == 0, result.output
    dataset = read_crossview(setup / "data")
    views = dataset.select("test", "night")
    poses = read_planar_poses(out)
    assert sorted(poses) == sorted(v.image for v in views) and len(views) == 2
    log = json.loads((tmp_path / "poses_log.json").read_text())
    assert log["summary"]["method"] == method and [e["image"] for e in log["views"]] == [v.image for v in views]
    assert len(list((tmp_path / "drawings").glob("*.png"))) == 2
    metrics = evaluate(dataset, out)
    assert set(metrics) == {"all", "night"} and metrics["night"]["estimate"]["views"] == 2
    prior = metrics["night"]["prior"]
    expected = sorted(v.prior.errors_to(v.pose)["distance_m"] for v in views)
    assert prior["median_distance_m"] == pytest.approx(sum(expected) / 2)
    assert prior["recall_distance_m_5"] == pytest.approx(100 * sum(e <= 5 for e in expected) / 2)
    result = run("evaluate", setup / "data", out, "--json", tmp_path / "metrics.json")
    assert result.exit_code == 0 and "night" in result.output
    assert json.loads((tmp_path / "metrics.json").read_text())["night"]["prior"] == pytest.approx(prior)


def broken(setup, tmp_path, change) -> str:
    """A copy of the dataset's crossview.json changed by `change`, its images where they were."""
    info = json.loads((setup / "data" / "crossview.json").read_text())
    change(info)
    info["image_root"] = str((setup / "data").resolve())
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "crossview.json").write_text(json.dumps(info))
    return str(tmp_path / "bad")


def _no_scale(info):
    del info["aerial"]["scene_000"]["metres_per_pixel"]


def _prior_off_the_image(info):
    info["views"][-1]["prior"]["x"] = 500.0


def _no_height(info):
    del info["views"][0]["camera_height_m"]


def _no_intrinsics(info):
    del info["views"][0]["camera"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_no_scale, "aerial 'scene_000' has no scale"),
        (_prior_off_the_image, "outside the aerial image"),
        (_no_height, "has no camera height"),
        (_no_intrinsics, "no camera intrinsics"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(setup, tmp_path, change, message):
    out = tmp_path / "poses.txt"
    result = run("localize", broken(setup, tmp_path, change), setup / "net.pt", out)
    assert result.exit_code == 1 and message in result.output
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output
    assert not out.exists() and not (tmp_path / "poses_log.json").exists()


@pytest.mark.parametrize("line", ["a.png 1 2", "a.png 1 2 3 4", "a.png x 2 3"])
def test_a_malformed_poses_line_is_one_line_naming_it(tmp_path, line):
    path = tmp_path / "poses.txt"
    path.write_text(f"# image x y yaw_deg\nb.png 1 2 3\n{line}\n")
    with pytest.raises(FormatError, match=f"{path}:3: expected 'image x y yaw_deg'"):
        read_planar_poses(path)
