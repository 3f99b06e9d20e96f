"""vloc show: the 3D page's contents, and its rendering in a real headless browser (Debian's chromium) with no
network."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import pytest
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.io.model import build_posed_model
from vloc.io.text import write_poses, write_results
from vloc.show import page
from vloc.show.queries import read_queries
from vloc.show.scene import frustum_polyline, scene_extent

CAMERA = pycolmap.Camera(model="PINHOLE", width=640, height=480, params=[500.0, 500.0, 320.0, 240.0], camera_id=1)
QUERY_INLIERS = {"q0.jpg": 0, "q1.jpg": 50, "q2.jpg": 100, "q3.jpg": 600}  # q0 is a fallback: its log has none
QUERY_SHIFTS = {"q0.jpg": 0.4, "q1.jpg": 0.3, "q2.jpg": 0.2, "q3.jpg": 0.1}  # ground truth moved along world x


def looking_at_origin(angle: float, radius: float, height: float) -> pycolmap.Rigid3d:
    """cam_from_world of a camera on a horizontal circle (world z up), looking at the origin, image y down."""
    centre = np.array([radius * np.cos(angle), radius * np.sin(angle), height])
    forward = -centre / np.linalg.norm(centre)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    return pycolmap.Rigid3d(pycolmap.Rotation3d(rotation), -rotation @ centre)


def shifted(pose: pycolmap.Rigid3d, shift: float) -> pycolmap.Rigid3d:
    """The same camera with its centre moved by `shift` along world x."""
    centre = pose.inverse().translation + [shift, 0.0, 0.0]
    return pycolmap.Rigid3d(pose.rotation, -(pose.rotation.matrix() @ centre))


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict[str, Path]:
    """A model of 12 cameras on a ring of radius 4 around 400 grey points in a 2 m box, and 4 queries inside the
    ring with logs (inliers) and ground truth."""
    root = tmp_path_factory.mktemp("show")
    poses = {f"db{i:02d}.jpg": looking_at_origin(2 * np.pi * i / 12, 4.0, 1.0) for i in range(12)}
    model = build_posed_model(dict.fromkeys(poses, CAMERA), poses)
    rng = np.random.default_rng(0)
    for xyz in rng.uniform(-1, 1, (400, 3)):
        model.add_point3D(xyz, pycolmap.Track(), np.full(3, rng.integers(60, 140), np.uint8))
    (root / "model").mkdir()
    model.write_binary(root / "model")
    queries = {name: looking_at_origin(0.3 + 1.5 * i, 3.0, 0.5) for i, name in enumerate(QUERY_INLIERS)}
    logs = [{"name": name, "success": True, "num_inliers": inliers} for name, inliers in QUERY_INLIERS.items()]
    logs[0] = {"name": "q0.jpg", "success": False, "fallback": True, "fallback_image": "db00.jpg"}
    write_results(root / "results.txt", queries, {"num_queries": 4}, logs)
    write_poses(root / "ground_truth.txt", {name: shifted(queries[name], QUERY_SHIFTS[name]) for name in queries})
    return {"root": root, "model": root / "model", "results": root / "results.txt", "gt": root / "ground_truth.txt"}


def test_scene_extent_ignores_the_outer_two_percent():
    points = np.zeros((101, 3))
    points[:, 0] = np.arange(101.0)  # 0..100 along x: the 2nd to 98th percentiles are 2 and 98
    points[50, 1] = 1e6  # one far outlier along y does not count
    assert scene_extent(points, np.zeros((0, 3))) == pytest.approx(96.0)
    assert scene_extent(np.zeros((3, 3)), np.zeros((1, 3))) == 1.0


def test_frustum_reaches_the_image_corners_at_depth():
    pose = looking_at_origin(0.0, 4.0, 0.0)  # at (4, 0, 0), looking along -x
    vertices = frustum_polyline(CAMERA, pose, 2.0)
    assert vertices.shape == (12, 3) and np.isnan(vertices[-1]).all()
    np.testing.assert_allclose(vertices[5], [4, 0, 0], atol=1e-12)  # the centre
    # corner (0, 0): 320 px left of and 240 px above the principal point at f = 500, 2 m in front; image right is
    # world +y, image down world -z
    np.testing.assert_allclose(vertices[0], [2.0, -2.0 * 320 / 500, 2.0 * 240 / 500], atol=1e-12)
    np.testing.assert_allclose(vertices[2], [2.0, 2.0 * 320 / 500, -2.0 * 240 / 500], atol=1e-12)


def test_queries_coloured_by_inliers_or_by_position_error(scene):
    by_inliers = read_queries(scene["results"], None)
    assert by_inliers.colour_values == {name: float(n) for name, n in QUERY_INLIERS.items()}
    assert not by_inliers.small_is_good and "50 inliers" in by_inliers.hover["q1.jpg"]
    assert "fallback: pose of db00.jpg" in by_inliers.hover["q0.jpg"]
    by_error = read_queries(scene["results"], scene["gt"])
    assert by_error.small_is_good and by_error.colour_label == "position error"
    for name, shift in QUERY_SHIFTS.items():
        assert by_error.colour_values[name] == pytest.approx(shift, abs=1e-9)
    assert "position error 0.3, rotation error 0.00 deg" in by_error.hover["q1.jpg"]


def test_figure_subsamples_points_and_sizes_frustums_by_the_extent(scene):
    model = pycolmap.Reconstruction(scene["model"])
    figure = page.build_figure(model, read_queries(scene["results"], None), 100, "title")
    points, mapping, query_lines, query_centres = figure.data
    assert len(points.x) == 100 and points.name == "3D points (100 of 400)"
    assert len(mapping.x) == 12 * 12 and len(query_lines.x) == 4 * 12
    # the first camera's frustum is 3% of the extent (of the drawn points and the camera centres) deep
    centres = np.array([image.projection_center() for image in model.images.values()])
    extent = scene_extent(np.array([points.x, points.y, points.z]).T, centres)
    centre, corner = np.array([mapping.x, mapping.y, mapping.z]).T[[5, 0]]
    assert (corner - centre) @ (-centre / np.linalg.norm(centre)) == pytest.approx(0.03 * extent, rel=1e-9)
    assert 8 < extent < 11.5  # within the box of the ring and the points, 8 m by 8 m by 2 m
    np.testing.assert_allclose(np.asarray(query_centres.marker.color), list(QUERY_INLIERS.values()))
    assert query_lines.line.cmin == 0 and query_lines.line.cmax == 100  # green from 100 inliers
    by_error = page.build_figure(model, read_queries(scene["results"], scene["gt"]), 100, "title")
    np.testing.assert_allclose(np.asarray(by_error.data[3].marker.color), list(QUERY_SHIFTS.values()), atol=1e-9)
    assert by_error.data[2].line.cmax == pytest.approx(0.02 * extent, rel=1e-9)  # red from 2% of the extent
    assert by_error.data[2].line.reversescale


def screenshot(html: Path, png: Path) -> np.ndarray:
    """The page as rendered by headless chromium (software WebGL, every request to the network refused), RGB."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium not installed (.ci/run installs it: apt-get install -y chromium)")
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
        "--use-angle=swiftshader", "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={png.parent / 'chromium-profile'}", "--window-size=1000,800", "--virtual-time-budget=20000",
        f"--screenshot={png}", html.as_uri(),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)


def pixels_near(image: np.ndarray, rgb: tuple[int, int, int], tolerance: float = 40.0) -> int:
    return int(np.sum(np.linalg.norm(image.astype(np.float64) - rgb, axis=-1) < tolerance))


def test_page_is_self_contained_and_renders_offline(scene, tmp_path):
    html = page.main(scene["model"], tmp_path / "scene.html", results=scene["results"])
    text = html.read_text()
    assert not re.search(r"<script[^>]*src=[\"']?https?:", text)
    assert len(text) > 3_000_000  # plotly.js is inlined
    image = screenshot(html, tmp_path / "scene.png")
    assert image.shape == (800, 1000, 3)
    assert np.sum(np.any(image < 200, axis=-1)) > 5000  # points, frustums, text: not a blank white page
    assert pixels_near(image, (90, 90, 90), 50) > 500  # grey points
    assert pixels_near(image, (0, 90, 255)) > 100  # blue mapping frustums
    assert pixels_near(image, (165, 0, 38)) > 20  # the fallback query (0 inliers), red
    assert pixels_near(image, (0, 104, 55)) > 20  # the queries with 100 inliers or more, green


def test_cli_show_and_its_errors(scene, tmp_path):
    from vloc.cli import app

    runner = CliRunner()
    out = tmp_path / "page.html"
    args = ["show", str(scene["model"]), str(out), "--results", str(scene["results"])]
    result = runner.invoke(app, [*args, "--ground-truth", str(scene["gt"]), "--max-points", "50"])
    assert result.exit_code == 0 and "3D view written to" in result.output, result.output
    assert '"3D points (50 of 400)"' in out.read_text()
    result = runner.invoke(app, ["show", str(scene["model"]), str(out), "--ground-truth", str(scene["gt"])])
    assert_one_line_error(result, "without results")
    write_poses(tmp_path / "partial_gt.txt", {"q0.jpg": looking_at_origin(0.0, 3.0, 0.0)})
    assert_one_line_error(runner.invoke(app, [*args, "--ground-truth", str(tmp_path / "partial_gt.txt")]), "q1.jpg")
    assert_one_line_error(runner.invoke(app, ["show", str(scene["model"]), str(tmp_path)]), "is a folder")
    missing = runner.invoke(app, ["show", str(tmp_path / "nothing"), str(out)])
    assert_one_line_error(missing, "MODEL", "folder not found")
