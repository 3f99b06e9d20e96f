"""vloc convert nvm: an NVM model written from known geometry becomes a COLMAP model with its poses, a camera per image
at the file's size, and points that reproject onto their points2D; bad inputs are one-line errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import assert_one_line_error
from nvm_layouts import look_at, nvm_camera_line, nvm_text
from typer.testing import CliRunner

from vloc.cli import app
from vloc.io.model import read_model
from vloc.io.nvm import read_nvm

TARGET = np.array([0.0, 0, 2])
# (name in the NVM, image file, focal, width, height, camera centre): names say .jpg for .png files and the reverse
CAMERAS = (
    ("./seq/0000.jpg", "seq/0000.png", 500.0, 640, 480, [0.0, -10, 1.5]),
    ("./seq/0001.png", "seq/0001.png", 520.0, 640, 480, [4, -9, 1.6]),
    ("./other/0002.png", "other/0002.jpg", 260.0, 320, 240, [-5, -8, 1.4]),
)
NUM_POINTS = 40


def measured(focal: float, width: int, height: int, pose, xyz: np.ndarray) -> np.ndarray | None:
    """Where an NVM file measures a point (pinhole, pixels from the image centre); None outside the image."""
    point = pose * xyz[None]
    xy = focal * point[0, :2] / point[0, 2]
    inside = point[0, 2] > 0 and abs(xy[0]) < width / 2 and abs(xy[1]) < height / 2
    return xy if inside else None


@pytest.fixture
def layout(tmp_path: Path) -> dict:
    """An image folder and an NVM model of three cameras looking at random points (the last one measured nowhere)."""
    images, poses, cameras = tmp_path / "images", [], []
    for listed, file, focal, width, height, centre in CAMERAS:
        (images / file).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(images / file), np.zeros((height, width, 3), np.uint8))
        poses.append(look_at(np.array(centre), TARGET))
        cameras.append(nvm_camera_line(listed, focal, poses[-1]))
    xyz = TARGET + np.random.default_rng(0).uniform(-2, 2, (NUM_POINTS, 3))
    points, tracks = [], []
    for p, point in enumerate(xyz):
        track = []
        for i, (camera, pose) in enumerate(zip(CAMERAS, poses)):
            xy = measured(*camera[2:5], pose, point) if p < NUM_POINTS - 1 else None
            if xy is not None and (p + i) % 4:  # some left out, so that the images measure different points
                track.append(f"{i} {100 * p + i} {xy[0]:.9f} {xy[1]:.9f}")
        tracks.append(len(track))
        points.append(f"{' '.join(f'{v:.12g}' for v in point)} {p} {2 * p} 255 {len(track)} {' '.join(track)}")
    (tmp_path / "model.nvm").write_text(nvm_text(cameras, points))
    return {"nvm": tmp_path / "model.nvm", "images": images, "poses": poses, "xyz": xyz, "tracks": tracks}


def convert(layout: dict, out: Path):
    return CliRunner().invoke(app, ["convert", "nvm", str(layout["nvm"]), str(out), "--images", str(layout["images"])])


def test_nvm_becomes_a_colmap_model_with_its_poses_cameras_and_reprojecting_points(layout: dict, tmp_path: Path):
    result = convert(layout, tmp_path / "model")
    assert result.exit_code == 0, result.output
    assert f"({len(CAMERAS)} images, {NUM_POINTS - 1} points3D)" in " ".join(result.output.split())  # rich wraps
    model = read_model(tmp_path / "model", need_points=True)
    nvm = read_nvm(layout["nvm"])
    for image_id, (_, file, focal, width, height, _) in enumerate(CAMERAS, 1):
        image = model.images[image_id]
        assert image.name == file and image.camera_id == image_id
        camera = model.cameras[image_id]
        assert (camera.model_name, camera.width, camera.height) == ("SIMPLE_RADIAL", width, height)
        assert camera.params.tolist() == pytest.approx([focal, width / 2, height / 2, 0.0])
        pose, truth = image.cam_from_world().matrix(), nvm.cameras[image_id - 1].cam_from_world.matrix()
        np.testing.assert_allclose(pose, truth, atol=1e-12)  # the NVM's poses, as read
        np.testing.assert_allclose(pose, layout["poses"][image_id - 1].matrix(), atol=1e-9)  # and the geometry's
    # every point measured somewhere, at its position, with its colour and one track element per measurement
    assert model.num_points3D() == NUM_POINTS - 1 and min(layout["tracks"][:-1]) >= 1
    errors = []
    for point_id, point in model.points3D.items():
        p = int(np.argmin(np.linalg.norm(layout["xyz"] - point.xyz, axis=1)))
        np.testing.assert_allclose(point.xyz, layout["xyz"][p], atol=1e-9)
        assert point.color.tolist() == [p, 2 * p, 255] and point.track.length() == layout["tracks"][p]
        for element in point.track.elements:
            image = model.images[element.image_id]
            observed = image.points2D[element.point2D_idx]
            assert observed.point3D_id == point_id
            errors.append(np.linalg.norm(image.project_point(point.xyz) - observed.xy))
    assert len(errors) == sum(layout["tracks"]) and max(errors) < 1e-6
    assert sum(image.num_points2D() for image in model.images.values()) == len(errors)


def test_nvm_existing_output_is_refused_unless_overwrite(layout: dict, tmp_path: Path):
    out = tmp_path / "model"
    assert convert(layout, out).exit_code == 0
    assert_one_line_error(convert(layout, out), f"{out}: already exists; pass --overwrite")
    args = ["convert", "nvm", str(layout["nvm"]), str(out), "--images", str(layout["images"]), "--overwrite"]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert read_model(out).num_points3D() == NUM_POINTS - 1
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes.txt").write_text("mine\n")
    args[3] = str(tmp_path / "notes")
    assert_one_line_error(CliRunner().invoke(app, args), "notes: exists and is not a COLMAP model folder")
    assert (tmp_path / "notes" / "notes.txt").read_text() == "mine\n"


def test_nvm_bad_inputs_are_one_line_errors(layout: dict, tmp_path: Path):
    out, nvm = tmp_path / "model", layout["nvm"]
    text = nvm.read_text()
    (layout["images"] / "seq" / "0001.png").rename(tmp_path / "0001.png")
    assert_one_line_error(convert(layout, out), "model.nvm:5: image ./seq/0001.png not found in", "images")
    (layout["images"] / "seq" / "0001.png").write_text("not an image\n")
    assert_one_line_error(convert(layout, out), "0001.png: image not found or not readable")
    (tmp_path / "0001.png").replace(layout["images"] / "seq" / "0001.png")
    nvm.write_text(text.replace("./seq/0001.png", "./seq/0000.png"))
    assert_one_line_error(convert(layout, out), "model.nvm:5: image seq/0000.png is also that of the camera of line 4")
    nvm.write_text("\n".join(text.splitlines()[:9]))  # cut after the first point
    assert_one_line_error(convert(layout, out), "model.nvm:9: the file ends before point 2 of 40")
    nvm.write_text("NVM_V2\n")
    assert_one_line_error(convert(layout, out), "model.nvm:1: not an NVM model")
    assert not out.exists()
