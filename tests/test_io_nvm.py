"""NVM models: poses read as cam_from_world (camera centre and viewing direction of the truth), measurements in
pixels, distortion, and one-line errors naming the file and line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pycolmap
import pytest
from nvm_layouts import look_at, nvm_camera_line, nvm_text

from vloc.errors import FormatError, InputError
from vloc.geometry.rigid3d import camera_center
from vloc.io.nvm import colmap_camera, measurement_pixels, read_nvm

WIDTH, HEIGHT, FOCAL = 640, 480, 500.0


CENTRES = np.array([[0.0, -10, 1.5], [4, -9, 1.6], [-5, -8, 1.4]])
TARGET = np.array([0.0, 0, 2])
POINTS = np.array([[0.0, 0, 2], [1, 1, 3], [-1.5, 0.5, 1], [2, -1, 2.5]])


def measurement(pose: pycolmap.Rigid3d, xyz: np.ndarray) -> np.ndarray:
    """Where a point is measured in an NVM file: pinhole projection, pixels from the image centre."""
    point = pose * xyz[None]
    return FOCAL * point[0, :2] / point[0, 2]


def write_model(path: Path, radial: float = 0.0) -> Path:
    poses = [look_at(centre, TARGET) for centre in CENTRES]
    cameras = [nvm_camera_line(f"./seq/{i:04d}.png", FOCAL, pose, radial) for i, pose in enumerate(poses)]
    points = []
    for p, xyz in enumerate(POINTS):
        measured = [
            f"{i} {10 * p + i} {' '.join(f'{v:.9f}' for v in measurement(pose, xyz))}" for i, pose in enumerate(poses)
        ]
        points.append(f"{' '.join(map(str, xyz))} {p * 50} 20 255 {len(measured)} {' '.join(measured)}")
    path.write_text(nvm_text(cameras, points))
    return path


def test_cameras_are_cam_from_world_with_the_camera_centre_and_viewing_direction(tmp_path: Path):
    model = read_nvm(write_model(tmp_path / "model.nvm", radial=1e-8))
    assert [c.name for c in model.cameras] == ["./seq/0000.png", "./seq/0001.png", "./seq/0002.png"]
    assert [c.line for c in model.cameras] == [4, 5, 6]
    for camera, centre in zip(model.cameras, CENTRES):
        assert camera.focal == FOCAL and camera.radial == 1e-8
        np.testing.assert_allclose(camera_center(camera.cam_from_world), centre, atol=1e-9)
        viewing = camera.cam_from_world.rotation.matrix()[2]  # the camera's z axis in the world
        np.testing.assert_allclose(viewing, (TARGET - centre) / np.linalg.norm(TARGET - centre), atol=1e-9)
        # the reading is COLMAP's: the target projects to the principal point
        image = colmap_camera(camera, WIDTH, HEIGHT).img_from_cam(camera.cam_from_world * TARGET[None])
        np.testing.assert_allclose(image[0], [WIDTH / 2, HEIGHT / 2], atol=1e-6)


def test_points_and_measurements_in_pixel_coordinates(tmp_path: Path):
    model = read_nvm(write_model(tmp_path / "model.nvm"))
    np.testing.assert_allclose(model.xyz, POINTS)
    np.testing.assert_array_equal(model.rgb[:, 0], [0, 50, 100, 150])
    np.testing.assert_array_equal(model.point_index, np.repeat(np.arange(4), 3))
    np.testing.assert_array_equal(model.image_index, np.tile(np.arange(3), 4))
    np.testing.assert_array_equal(model.feature_index, [10 * p + i for p in range(4) for i in range(3)])
    pixels = measurement_pixels(model.xy, WIDTH, HEIGHT)
    for k, (p, i) in enumerate(zip(model.point_index, model.image_index)):
        camera = model.cameras[i]
        projected = colmap_camera(camera, WIDTH, HEIGHT).img_from_cam(camera.cam_from_world * model.xyz[p][None])
        np.testing.assert_allclose(pixels[k], projected[0], atol=1e-6)
    # the principal point is the image centre in COLMAP's convention (top-left pixel centre at 0.5, 0.5)
    np.testing.assert_allclose(measurement_pixels(np.zeros((1, 2)), 4, 2), [[2.0, 1.0]])


@pytest.mark.parametrize("normalized", [0.01, -0.01, 0.03])
def test_visualsfm_distortion_becomes_simple_radial(normalized: float):
    """VisualSFM undistorts measured pixels d to d (1 + r |d|^2); COLMAP's k distorts normalized points. Over a
    Cambridge frame (1920 x 1080, focal 1670) the fitted camera reprojects each undistorted point onto its
    measurement within 0.15 px (0.012 px at 0.01, 0.10 px at 0.03)."""
    from vloc.io.nvm import NvmCamera

    focal, width, height = 1670.0, 1920, 1080
    camera = NvmCamera("a.jpg", focal, pycolmap.Rigid3d(), normalized / focal**2, 1)
    colmap = colmap_camera(camera, width, height)
    assert colmap.model_name == "SIMPLE_RADIAL" and np.sign(colmap.params[3]) == -np.sign(normalized)
    grid = np.stack(np.meshgrid(np.linspace(-960, 960, 25), np.linspace(-540, 540, 15)), -1).reshape(-1, 2)
    undistorted = grid * (1 + camera.radial * (grid**2).sum(1, keepdims=True))
    projected = colmap.img_from_cam(np.c_[undistorted / focal, np.ones(len(grid))])
    assert np.abs(projected - measurement_pixels(grid, width, height)).max() < 0.15


def test_cameras_only_stops_before_the_points(tmp_path: Path):
    path = write_model(tmp_path / "model.nvm")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:9]) + "\n")  # cut inside the points
    model = read_nvm(path, points=False)
    assert len(model.cameras) == 3 and model.xyz.shape == (0, 3) and model.xy.shape == (0, 2)
    with pytest.raises(FormatError, match=re.escape("model.nvm:9: the file ends before point 2 of 4")):
        read_nvm(path)


def replace_line(number: int, text: str):
    def damage(path: Path) -> None:
        lines = path.read_text().splitlines()
        lines[number - 1] = text
        path.write_text("\n".join(lines) + "\n")

    return damage


@pytest.mark.parametrize(
    "damage, message",
    [
        (replace_line(1, "NVM_V2"), "model.nvm:1: not an NVM model"),
        (replace_line(3, "three"), "model.nvm:3: expected the number of cameras, got 'three'"),
        (replace_line(4, "a.png 500 1 0 0 0 0 0"), "model.nvm:4: expected a camera 'name focal qw qx qy qz"),
        (replace_line(5, "a.png 5OO 1 0 0 0 0 0 0 0 0"), "model.nvm:5: the camera holds a value that is not a number"),
        (replace_line(5, "a.png 500 1 0 0 0 0 0 nan 0 0"), "model.nvm:5: the camera holds a value that is not finite"),
        (replace_line(6, "a.png 500 0 0 0 0 0 0 0 0 0"), "model.nvm:6: camera a.png has a focal length <= 0 or a zero"),
        (replace_line(6, "a.png -5 1 0 0 0 0 0 0 0 0"), "model.nvm:6: camera a.png has a focal length <= 0"),
        (replace_line(9, "1 2 3 0 0 0 2 0 0 1 1"), "model.nvm:9: expected a point 'x y z r g b n'"),
        (replace_line(9, "1 2 3 0 0 0 1 3 0 1 1"), "model.nvm:9: a measurement names an image that is not one of"),
        (
            lambda p: p.write_text("\n".join(p.read_text().splitlines()[:5])),
            "model.nvm:5: the file ends before camera 3",
        ),
        (lambda p: p.write_text("NVM_V3\n\n"), "model.nvm:2: the file ends before the number of cameras"),
        (lambda p: p.write_bytes(p.read_bytes().replace(b"seq/0001", b"seq/\xff")), "model.nvm:5: not UTF-8 text"),
    ],
)
def test_malformed_files_fail_in_one_line_naming_the_file_and_line(tmp_path: Path, damage, message: str):
    path = write_model(tmp_path / "model.nvm")
    damage(path)
    with pytest.raises(FormatError) as error:
        read_nvm(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_missing_file_is_named(tmp_path: Path):
    with pytest.raises(InputError, match=re.escape(f"{tmp_path / 'all.nvm'}: NVM model not found")):
        read_nvm(tmp_path / "all.nvm")


def test_header_options_and_a_missing_final_zero_are_read(tmp_path: Path):
    """VisualSFM's 'NVM_V3 FixedK fx cx fy cy r' header, and camera lines without the trailing 0 (some writers)."""
    pose = look_at(CENTRES[0], TARGET)
    line = nvm_camera_line("a.jpg", FOCAL, pose).removesuffix(" 0")
    (tmp_path / "model.nvm").write_text(f"NVM_V3 FixedK 500 320 500 240 0\n1\n{line}\n0\n")
    model = read_nvm(tmp_path / "model.nvm")
    np.testing.assert_allclose(camera_center(model.cameras[0].cam_from_world), CENTRES[0], atol=1e-9)
