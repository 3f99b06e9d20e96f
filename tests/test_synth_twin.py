"""vloc synth-twin: RGB-D frames of a vloc synth scene (its day images, its depth as 16-bit millimetres) fused and
rendered again; the labels must be the scene's own geometry."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import pytest
import torch

from vloc.errors import ConfigError, FormatError, InputError
from vloc.io.images import write_png
from vloc.synth import twin
from vloc.train.scr_data import read_labels, synthetic_frames


@pytest.fixture(scope="module")
def depth_frames(scr_scene: Path, tmp_path_factory) -> list[twin.DepthFrame]:
    """The day frames of `scr_scene` with their rendered depth written as Kinect-style PNGs."""
    folder = tmp_path_factory.mktemp("rgbd")
    frames = []
    for frame in synthetic_frames(scr_scene, "day"):
        depth = np.load(frame.labels)["depth"]
        millimetres = np.where(depth > 0, np.round(depth * 1000), 0).clip(0, 65535).astype(np.uint16)
        path = folder / f"{frame.image.stem}.depth.png"
        cv2.imwrite(str(path), millimetres)
        frames.append(twin.DepthFrame(frame.image, path, frame.camera, frame.camera, frame.cam_from_world))
    return frames


CONF = twin.TwinConf(num_renders=4, voxel=0.1, render_scale=1.0, max_offset=0.5, max_rotation=5.0, min_coverage=0.3)


def test_real_labels_are_the_scene_geometry(depth_frames, scr_scene: Path):
    frame = depth_frames[1]
    labels = twin.real_labels(frame)
    truth = np.load(scr_scene / "geometry" / f"{frame.image.stem}.npz")
    both = (labels["depth"] > 0) & (truth["depth"] > 0)
    assert both.mean() > 0.9 * (truth["depth"] > 0).mean()
    error = np.linalg.norm(labels["scene_coordinates"][both] - truth["scene_coordinates"][both], axis=1)
    assert np.median(error) < 0.01  # metres, in a street some 50 m long; depth is stored to the millimetre
    normal = both & (np.linalg.norm(labels["normals"], axis=-1) > 0)  # unknown at depth jumps
    cosine = (labels["normals"][normal] * truth["normals"][normal]).sum(1)
    assert normal.sum() > 0.7 * both.sum() and np.mean(cosine > 0.99) > 0.95


def test_twin_renders_are_consistent_labelled_frames_near_the_mapping_poses(depth_frames, tmp_path: Path):
    out = twin.main(depth_frames, tmp_path / "twin", CONF)
    real, renders = synthetic_frames(out, "real"), synthetic_frames(out, "twin")
    assert len(real) == 3 and len(renders) == 4
    description = json.loads((out / "scene.json").read_text())
    assert description["num_real"] == 3 and description["num_points"] > 1000
    centres = np.array([f.cam_from_world.inverse().translation for f in depth_frames])
    for frame in renders:
        labels = read_labels(frame, with_normals=True)
        seen = labels["depth"] > 0
        assert seen.mean() >= CONF.min_coverage
        assert (
            np.isfinite(labels["scene_coordinates"][seen]).all() and np.isnan(labels["scene_coordinates"][~seen]).all()
        )
        pose = frame.cam_from_world
        camera = labels["scene_coordinates"][seen] @ pose.rotation.matrix().T + pose.translation
        assert np.allclose(camera[:, 2], labels["depth"][seen], atol=1e-3)  # the labels agree with the pose
        distance = np.linalg.norm(centres - pose.inverse().translation, axis=1).min()
        assert distance <= np.sqrt(3) * CONF.max_offset + 1e-9
        image = cv2.imread(str(frame.image))
        assert image.shape[:2] == seen.shape and image[~seen].max() == 0 and image[seen].mean() > 20
    with pytest.raises(ConfigError, match="already holds a scene"):
        twin.main(depth_frames, out, CONF)


def test_a_twin_that_fails_leaves_no_folder_and_other_files_are_kept(depth_frames, tmp_path: Path):
    """The last frame's depth map is unreadable: the first frames' files must not stay behind as a partial twin."""
    last = depth_frames[-1]
    broken = twin.DepthFrame(last.image, tmp_path / "none.png", last.camera, last.depth_camera, last.cam_from_world)
    out = tmp_path / "twin"
    with pytest.raises(InputError, match="none.png: depth map not found"):
        twin.main([*depth_frames[:-1], broken], out, CONF)
    assert not out.exists() and not list(tmp_path.glob("twin.*"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep\n")
    with pytest.raises(ConfigError, match="mine: already holds files"):
        twin.main(depth_frames, tmp_path / "mine", CONF)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep\n"


def test_a_render_at_a_mapping_pose_sees_the_frames_depth(depth_frames):
    cloud = twin.fuse(depth_frames, twin.TwinConf(voxel=0.05, depth_stride=1))
    frame = depth_frames[0]
    render = twin.render(cloud, frame.cam_from_world, frame.camera, splat=0.05)
    truth = twin.read_depth(frame)
    both = (render["depth"] > 0) & (truth > 0)
    assert both.mean() > 0.8 * (truth > 0).mean()
    relative = np.abs(render["depth"][both] - truth[both]) / truth[both]
    assert np.median(relative) < 0.01


def test_voxel_groups_are_numpys_unique_rows():
    cells = np.random.default_rng(0).integers(-40, 40, (5000, 3))
    _, inverse, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    group, group_counts = twin.voxel_groups(cells, voxel=0.01)
    assert (group == inverse.ravel()).all() and (group_counts == counts).all()
    with pytest.raises(ConfigError, match="set a larger voxel"):
        twin.voxel_groups(np.array([[0, 0, 0], [2**21, 2**21, 2**21]]), voxel=0.01)


def test_the_z_buffer_is_the_nearest_covering_point_of_each_pixel():
    """Against a brute-force z-buffer, with points projecting inside, on the edges and up to their half-width
    outside the image (which still cover its border), and beyond."""
    rng = np.random.default_rng(0)
    width, height, count = 12, 9, 40
    K = np.array([[10.0, 0, 6], [0, 10.0, 4.5], [0, 0, 1]])
    edges = [p for h in (1, 2, 3) for p in ([-h, 2 * h], [width - 1 + h, 2 * h], [h + 3, -h], [h + 3, height - 1 + h])]
    pixels = np.vstack([rng.uniform([-6, -6], [width + 6, height + 6], (count, 2)), np.array(edges) + 0.5])
    depth = np.append(rng.uniform(1, 5, count), np.full(len(edges), 0.5))  # nearer than the others
    points = np.column_stack([(pixels - K[:2, 2]) / 10 * depth[:, None], depth])
    half_widths = np.append(rng.integers(0, 4, count), np.repeat([1, 2, 3], 4))
    nearest = twin.nearest_points(torch.from_numpy(points), K, width, height, torch.from_numpy(half_widths)).numpy()
    expected = np.full((height, width), -1)
    cells = np.floor(pixels).astype(int)
    for y in range(height):
        for x in range(width):
            covering = np.flatnonzero((np.abs(cells - [x, y]) <= half_widths[:, None]).all(1))
            if len(covering):
                expected[y, x] = covering[np.argmin(depth[covering])]
    assert (expected >= 0).mean() > 0.5 and (expected < 0).any()
    assert (nearest == expected).all()


def test_latin_hypercube_uses_every_stratum_once():
    samples = twin.latin_hypercube(10, 6, np.random.default_rng(0))
    assert samples.shape == (10, 6) and np.abs(samples).max() <= 1
    strata = np.floor((samples + 1) / 2 * 10).astype(int)
    assert all(sorted(column) == list(range(10)) for column in strata.T)


def test_bad_depth_maps_are_one_line_errors(depth_frames, tmp_path: Path):
    frame = depth_frames[0]
    missing = twin.DepthFrame(frame.image, tmp_path / "none.png", frame.camera, frame.camera, frame.cam_from_world)
    with pytest.raises(InputError, match="none.png: depth map not found or unreadable"):
        twin.real_labels(missing)
    eight_bit = tmp_path / "eight.png"
    cv2.imwrite(str(eight_bit), np.zeros((124, 164), np.uint8))
    wrong = twin.DepthFrame(frame.image, eight_bit, frame.camera, frame.camera, frame.cam_from_world)
    with pytest.raises(FormatError, match="eight.png: expected a 16-bit depth map of 124x164"):
        twin.real_labels(wrong)
    other = pycolmap.Camera(model="SIMPLE_PINHOLE", width=100, height=80, params=[90.0, 50.0, 40.0])
    with pytest.raises(FormatError, match="its camera is 100x80"):
        twin.real_labels(twin.DepthFrame(frame.image, frame.depth, other, frame.camera, frame.cam_from_world))


def test_colours_carried_by_depth_from_a_frame_match_the_view_they_are_carried_into(tmp_path: Path):
    """A textured wall 2 m in front of two cameras 10 cm apart (5 px at f = 100): the second view coloured from the
    first frame's pixels is the texture shifted by 5 px, exactly; the fused cloud's averaged colours are not."""
    width, height, shift = 80, 60, 5
    texture = np.random.default_rng(0).integers(0, 256, (height, width + shift, 3), dtype=np.uint8)
    camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=width, height=height, params=[100.0, width / 2, height / 2])
    cv2.imwrite(str(tmp_path / "wall.depth.png"), np.full((height, width), 2000, np.uint16))
    write_png(tmp_path / "first.png", texture[:, :width])
    first = twin.DepthFrame(tmp_path / "first.png", tmp_path / "wall.depth.png", camera, camera, pycolmap.Rigid3d())
    second = pycolmap.Rigid3d(pycolmap.Rotation3d(), [-0.1, 0.0, 0.0])  # its centre 0.1 m to the right
    maps = twin.render(twin.fuse([first], twin.TwinConf(voxel=0.05)), second, camera, splat=0.05)
    carried = twin.colour_from_frames(maps, [twin.frame_colours([first], cached=1)(0)], second, camera)
    both = maps["depth"][:, : width - shift] > 0  # the wall the first frame saw
    expected = texture[:, shift:width]
    assert both.mean() > 0.95
    assert (carried[:, : width - shift] == expected).all(-1)[both].mean() > 0.99
    assert (maps["image"][:, : width - shift] == expected).all(-1)[both].mean() < 0.5
