"""Triangulation from known poses: points land on the true surfaces; a wrong known pose is named;
bad input fails with one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pycolmap
import pytest
from helpers import assert_one_line_error, textured_image, tree_digest, write_image
from typer.testing import CliRunner

from vloc.cli import app
from vloc.errors import FormatError
from vloc.io.features import Features, write_features
from vloc.io.h5 import atomic_writer
from vloc.io.model import build_posed_model, read_model, write_model
from vloc.mapping import triangulation


def test_points_lie_on_the_rendered_surfaces(synthetic_map: dict[str, Path]):
    model = read_model(synthetic_map["model"], need_points=True)
    assert model.num_points3D() > 1000
    assert model.compute_mean_reprojection_error() < 0.5
    distances = []
    for point in list(model.points3D.values())[::10]:
        element = point.track.elements[0]
        image = model.images[element.image_id]
        x, y = image.points2D[element.point2D_idx].xy  # COLMAP convention: pixel (i, j) has centre (j + .5, i + .5)
        frame = image.name.split("/")[1].replace(".png", ".npz")
        scene_coordinates = np.load(synthetic_map["scene"] / "geometry" / frame)["scene_coordinates"]
        truth = scene_coordinates[int(y), int(x)]
        if np.all(np.isfinite(truth)):
            distances.append(np.linalg.norm(point.xyz - truth))
    # the nearest pixel centre is within half a pixel; at ~10-30 m depth and f=500 that is a few cm
    assert np.median(distances) < 0.05, np.median(distances)


def test_pairs_naming_an_image_absent_from_the_model_fail(synthetic_map: dict[str, Path], tmp_path: Path):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("day/frame_000.png night/frame_001.png\n")  # night images are not in the reference
    with pytest.raises(FormatError, match="pairs.txt: pair .* names image 'night/frame_001.png' absent from the model"):
        triangulation.main(
            triangulation.TriangulationConf(),
            synthetic_map["reference"],
            synthetic_map["images"],
            pairs,
            synthetic_map["features"],
            synthetic_map["matches_mapping"],
            tmp_path / "model",
        )
    assert not (tmp_path / "model").exists()


def test_pose_support_names_an_image_whose_known_pose_is_wrong(synthetic_map: dict[str, Path], tmp_path: Path):
    reference = read_model(synthetic_map["reference"])
    wrong = next(image for image in reference.images.values() if image.name == "day/frame_006.png")
    upside_down = pycolmap.Rotation3d(np.array([0.0, 0.0, 1.0, 0.0]))  # 180 deg about the optical axis, as templeR0041
    pose = wrong.cam_from_world()
    reference.frames[wrong.frame_id].rig_from_world = pycolmap.Rigid3d(
        upside_down * pose.rotation, upside_down * pose.translation
    )
    write_model(reference, tmp_path / "reference")
    model = triangulation.main(
        triangulation.TriangulationConf(),
        tmp_path / "reference",
        synthetic_map["images"],
        synthetic_map["pairs_mapping"],
        synthetic_map["features"],
        synthetic_map["matches_mapping"],
        tmp_path / "model",
    )
    supports = {s.name: s for s in triangulation.pose_support(model)}
    assert supports["day/frame_006.png"].num_observations == 0
    others = [s for name, s in supports.items() if name != "day/frame_006.png"]
    assert min(s.num_observations for s in others) > 100 and max(s.median_error for s in others) < 0.3  # measured 0.21
    warnings = triangulation.pose_support_warnings(list(supports.values()))
    assert warnings[0].startswith("1 images have no 3D point") and warnings[0].endswith("day/frame_006.png")
    assert "median over images" in warnings[1]


@pytest.mark.parametrize(
    ("out_name", "message"),
    [
        ("images", "is also the input IMAGES; write elsewhere"),
        ("results.txt", "is a file, expected a folder to write into"),
    ],
)
def test_cli_refuses_an_out_that_is_not_a_model_folder(tmp_path: Path, out_name: str, message: str):
    write_image(tmp_path / "images" / "a.png", textured_image(0, 64, 48))
    (tmp_path / "results.txt").write_text("a.png 1 0 0 0 0 0 0\n")
    (tmp_path / "reference").mkdir()
    for name in ("pairs.txt", "feats.h5", "matches.h5"):  # inputs exist: OUT is checked before they are read
        (tmp_path / name).write_bytes(b"")
    before = tree_digest(tmp_path)
    inputs = [str(tmp_path / name) for name in ("reference", "images", "pairs.txt", "feats.h5", "matches.h5")]
    out = tmp_path / out_name
    result = CliRunner().invoke(app, ["triangulate", *inputs, str(out)])
    assert_one_line_error(result, f"{out}: {message}")
    assert tree_digest(tmp_path) == before  # nothing removed, no temporary or lock left


def test_two_dimensional_matches0_fails_in_one_line_naming_file_and_pair(tmp_path: Path):
    camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=320, height=240, params=[300, 160, 120])
    poses = {"a.png": pycolmap.Rigid3d(), "b.png": pycolmap.Rigid3d(pycolmap.Rotation3d(), np.array([1.0, 0, 0]))}
    write_model(build_posed_model(dict.fromkeys(poses, camera), poses), tmp_path / "reference")
    rng = np.random.default_rng(0)
    with atomic_writer(tmp_path / "feats.h5", resume=False) as handle:
        for name in poses:
            keypoints = rng.uniform(0, 240, (20, 2)).astype(np.float32)
            write_features(handle, name, Features(keypoints, rng.random((128, 20)), np.ones(20), np.array([320, 240])))
    with atomic_writer(tmp_path / "matches.h5", resume=False) as handle:
        group = handle.create_group("a.png").create_group("b.png")
        group["matches0"] = np.stack([np.arange(20), np.arange(20)], 1).astype(np.int32)  # (N, 2) pairs, not matches0
    (tmp_path / "pairs.txt").write_text("a.png b.png\n")
    args = [tmp_path / "reference", tmp_path, tmp_path / "pairs.txt", tmp_path / "feats.h5", tmp_path / "matches.h5"]
    result = CliRunner().invoke(app, ["triangulate", *map(str, args), str(tmp_path / "model")])
    assert_one_line_error(
        result, f"{tmp_path / 'matches.h5'}: pair 'a.png/b.png' has matches0 of shape (20, 2) and type int32"
    )
    assert not (tmp_path / "model").exists() and not (tmp_path / "model.tmp").exists()
