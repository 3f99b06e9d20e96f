"""vloc points-from-depth: 3D points of keypoints from per-pixel point maps (bilinear, NaN handling, map scaling), a
model whose points reproject onto their keypoints, and vloc localize on such a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error
from typer.testing import CliRunner

from vloc.cli import app
from vloc.geometry.rigid3d import pose_errors
from vloc.io.features import Features, write_features
from vloc.io.h5 import atomic_writer
from vloc.io.model import build_posed_model, read_model, write_model
from vloc.io.point_maps import SynthPointMaps, point_maps
from vloc.io.text import read_poses
from vloc.mapping.from_depth import FromDepthConf, interpolate_points, main, map_coordinates

# A 3 x 4 map whose point at row i, column j is (j, 10 i, i j).
GRID = np.stack(np.meshgrid(np.arange(4.0), np.arange(3.0)), -1)
POINTS = np.dstack([GRID[..., 0], 10 * GRID[..., 1], GRID[..., 0] * GRID[..., 1]])


def test_bilinear_values_by_hand():
    keypoints = np.array([[0.5, 0.25], [2.0, 1.0], [2.75, 1.5], [3.0, 2.0]])
    points, valid = interpolate_points(POINTS, keypoints)
    # (0.5, 0.25): x = 0.5, y = 2.5; z = bilinear of 0, 0 (row 0) and 0, 1 (row 1) = 0.25 * 0.5
    # (2.75, 1.5): z = 0.5 (1 * 2 * 0.25 + 1 * 3 * 0.75) + 0.5 (2 * 2 * 0.25 + 2 * 3 * 0.75) = 4.125
    expected = [[0.5, 2.5, 0.125], [2.0, 10.0, 2.0], [2.75, 15.0, 4.125], [3.0, 20.0, 6.0]]
    np.testing.assert_allclose(points, expected, atol=1e-12)
    assert valid.all()


def test_keypoints_in_the_outer_half_pixel_take_the_border():
    points, valid = interpolate_points(POINTS, np.array([[-0.4, 1.0], [3.45, -0.5]]))
    np.testing.assert_allclose(points, [[0.0, 10.0, 0.0], [3.0, 0.0, 0.0]])
    assert valid.all()


def test_a_missing_neighbour_leaves_no_point_unless_the_nearest_pixel_has_one():
    holed = POINTS.copy()
    holed[1, 2] = np.nan
    keypoints = np.array([[1.25, 0.5], [1.0, 1.0], [2.2, 1.1], [0.5, 0.5]])
    points, valid = interpolate_points(holed, keypoints, nearest_fallback=False)
    # Each of the first three has the hole among its four neighbours, even at zero weight (pixel (1, 1) itself).
    assert valid.tolist() == [False, False, False, True]
    points, valid = interpolate_points(holed, keypoints, nearest_fallback=True)
    # The nearest pixel of (1.25, 0.5) is row 0, column 1 (rounding half to even, as torch's grid_sample).
    np.testing.assert_allclose(points[0], POINTS[0, 1])
    np.testing.assert_allclose(points[1], POINTS[1, 1])
    assert valid.tolist() == [True, True, False, True]  # (2.2, 1.1) is nearest the hole itself


def test_keypoints_scale_to_a_map_of_another_size():
    keypoints = np.array([[0.0, 0.0], [799.0, 599.0]])
    np.testing.assert_allclose(map_coordinates(keypoints, (800, 600), (300, 400)), [[-0.25, -0.25], [399.25, 299.25]])
    assert map_coordinates(keypoints, (800, 600), (600, 800)) is keypoints


def synth_reference(scene: Path, out: Path, names: list[str]) -> Path:
    """The scene model's poses and cameras of `names`, as vloc prepare writes a reference."""
    model = read_model(scene / "model")
    images = {image.name: image for image in model.images.values()}
    cameras = {name: model.cameras[images[name].camera_id] for name in names}
    write_model(build_posed_model(cameras, {name: images[name].cam_from_world() for name in names}), out)
    return out


def random_keypoints(path: Path, names: list[str], count: int = 300, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with atomic_writer(path, resume=False) as handle:
        for name in names:
            keypoints = rng.uniform([-0.5, -0.5], [479.5, 359.5], (count, 2)).astype(np.float32)
            write_features(
                handle, name, Features(keypoints, np.zeros((8, count), np.float32), np.ones(count), (480, 360))
            )
    return path


def test_model_points_reproject_onto_their_keypoints(benchmark_scene: Path, tmp_path: Path):
    names = ["day/frame_000.png", "day/frame_002.png"]
    reference = synth_reference(benchmark_scene, tmp_path / "reference", names)
    features = random_keypoints(tmp_path / "feats.h5", names)
    model = main(FromDepthConf(), reference, features, SynthPointMaps(benchmark_scene), tmp_path / "model")
    assert read_model(tmp_path / "model").num_points3D() == model.num_points3D()
    for image in model.images.values():
        assert image.num_points2D() == 300
        assert image.num_points3D > 200  # the sky has no points
        errors = [
            np.linalg.norm(image.project_point(model.points3D[p.point3D_id].xyz) - p.xy)
            for p in image.points2D
            if p.has_point3D()
        ]
        # Within float32 and the curvature of a projective map on a plane; a keypoint between two faces at a depth
        # edge interpolates between them.
        assert np.median(errors) < 0.01 and np.mean(np.array(errors) < 0.5) > 0.95, np.median(errors)


def test_pairs_and_matches_keep_the_matched_keypoints_of_the_paired_images(benchmark_scene: Path, tmp_path: Path):
    from vloc.io.matches import write_matches

    names = ["day/frame_000.png", "day/frame_002.png", "day/frame_004.png"]
    reference = synth_reference(benchmark_scene, tmp_path / "reference", names)
    features = random_keypoints(tmp_path / "feats.h5", [*names, "day/frame_001.png"])
    (tmp_path / "pairs.txt").write_text("day/frame_001.png day/frame_002.png\n")
    matches0 = np.full(300, -1)
    matches0[:40] = np.arange(100, 140)
    with atomic_writer(tmp_path / "matches.h5", resume=False) as handle:
        write_matches(handle, "day/frame_001.png", "day/frame_002.png", matches0, np.ones(300))
    model = main(
        FromDepthConf(),
        reference,
        features,
        SynthPointMaps(benchmark_scene),
        tmp_path / "model",
        tmp_path / "pairs.txt",
        tmp_path / "matches.h5",
    )
    counts = {image.name: (image.num_points2D(), image.num_points3D) for image in model.images.values()}
    assert counts["day/frame_000.png"] == counts["day/frame_004.png"] == (0, 0)
    assert counts["day/frame_002.png"][0] == 300 and 30 < counts["day/frame_002.png"][1] <= 40
    observed = [p.point2D_idx for point in model.points3D.values() for p in point.track.elements]
    assert set(observed) <= set(range(100, 140))


@pytest.fixture(scope="module")
def depth_map_localization(benchmark_scene: Path, tmp_path_factory) -> dict[str, Path]:
    """SIFT of the day frames, even frames a map from their point maps, odd frames matched to them and localized."""
    out = tmp_path_factory.mktemp("from_depth")
    runner = CliRunner()
    mapping = [f"day/frame_{k:03d}.png" for k in range(0, 12, 2)]
    queries = [f"day/frame_{k:03d}.png" for k in range(1, 12, 2)]
    synth_reference(benchmark_scene, out / "reference", mapping)
    (out / "list.txt").write_text("\n".join(mapping + queries) + "\n")
    (out / "pairs.txt").write_text("".join(f"{q} {m}\n" for q in queries for m in mapping))
    (out / "queries.txt").write_text(
        "".join(
            line
            for line in (benchmark_scene / "queries.txt").read_text().splitlines(True)
            if line.split()[0] in queries
        )
    )
    images = str(benchmark_scene / "images")
    steps = [
        ["extract", "local", images, str(out / "feats.h5"), "--conf", "sift", "--list", str(out / "list.txt")],
        ["match", "features", str(out / "pairs.txt"), str(out / "feats.h5"), str(out / "matches.h5")],
        ["points-from-depth", str(out / "reference"), str(out / "feats.h5"), str(out / "model")]
        + ["--xyz", str(benchmark_scene)],
        ["localize", str(out / "model"), str(out / "queries.txt"), str(out / "pairs.txt"), str(out / "feats.h5")]
        + [str(out / "matches.h5"), str(out / "results.txt")],
    ]
    for step in steps:
        result = runner.invoke(app, step)
        assert result.exit_code == 0, result.output
    return {"out": out, "queries": queries}


def test_localize_on_a_map_from_depth_finds_the_rendered_poses(benchmark_scene: Path, depth_map_localization: dict):
    truth = {image.name: image.cam_from_world() for image in read_model(benchmark_scene / "model").images.values()}
    results = read_poses(depth_map_localization["out"] / "results.txt")
    assert sorted(results) == sorted(depth_map_localization["queries"])
    errors = [pose_errors(results[name], truth[name]) for name in results]
    assert max(dt for dt, _ in errors) < 0.05 and max(dr for _, dr in errors) < 0.5, errors


def test_cli_bad_inputs_fail_with_one_line(benchmark_scene: Path, depth_map_localization: dict, tmp_path: Path):
    out = depth_map_localization["out"]
    runner = CliRunner()
    base = ["points-from-depth", str(out / "reference"), str(out / "feats.h5")]
    result = runner.invoke(
        app, [*base, str(tmp_path / "m"), "--xyz", str(benchmark_scene), "--pairs", str(out / "pairs.txt")]
    )
    assert_one_line_error(result, "--pairs and --matches go together")
    result = runner.invoke(app, [*base, str(tmp_path / "m"), "--xyz", str(tmp_path)])
    assert_one_line_error(result, str(tmp_path), "neither an InLoc folder")
    result = runner.invoke(app, [*base, str(tmp_path / "m"), "--xyz", str(benchmark_scene), "--layout", "inloc"])
    assert_one_line_error(result, "day/frame_000.png", "not an InLoc cutout name")
    (tmp_path / "geometry").mkdir()
    result = runner.invoke(app, [*base, str(tmp_path / "m"), "--xyz", str(tmp_path)])
    assert_one_line_error(result, str(tmp_path / "geometry" / "frame_000.npz"), "point map not found")
    np.savez(tmp_path / "geometry" / "frame_000.npz", depth=np.zeros((360, 480)))
    result = runner.invoke(app, [*base, str(tmp_path / "m"), "--xyz", str(tmp_path)])
    assert_one_line_error(result, "frame_000.npz", "no array 'scene_coordinates'")
    (tmp_path / "geometry" / "frame_000.npz").write_bytes(b"PK\x03\x04" + bytes(100))  # a zip signature, no zip
    result = runner.invoke(app, [*base, str(tmp_path / "m"), "--xyz", str(tmp_path)])
    assert_one_line_error(result, "frame_000.npz", "not a readable .npz file")
    assert isinstance(point_maps(benchmark_scene), SynthPointMaps)
    assert not (tmp_path / "m").exists()
