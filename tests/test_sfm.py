"""vloc sfm: structure from motion on a rendered scene registers every image and recovers the true cameras."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pycolmap
import pytest
from helpers import assert_one_line_error, textured_image, tree_digest, write_image
from typer.testing import CliRunner

from vloc import pairs
from vloc.cli import app
from vloc.extract import local_features as extract
from vloc.geometry.rigid3d import pose_errors
from vloc.io.h5 import atomic_writer
from vloc.io.matches import write_matches
from vloc.io.model import model_poses
from vloc.mapping import sfm
from vloc.match import local_features as match
from vloc.matchers.pair_matcher import conf_by_name as match_conf
from vloc.synth import SynthConfig
from vloc.synth import main as synthesize

# 24 cameras inward around the ring (15 deg apart): with 12 (30 deg apart) too few views link and only 3 to 5 register.
# SfM refines a focal length per image; at 320x240 that lets one rotation drift by 1.5 deg, at 480x360 the worst
# is 0.24 deg and 0.2 % of the extent (rendering takes about 20 s).
CONF = SynthConfig(num_cameras=24, conditions=("day",), seed=5, layout="ring", width=480, height=360, focal=375.0)


@pytest.fixture(scope="module")
def reconstructed(tmp_path_factory) -> tuple[Path, list[str], pycolmap.Reconstruction]:
    """The scene, its image names and the SfM model of SIFT + NN-ratio on all pairs (made twice: the same model from
    the pairs file written by hand)."""
    out = tmp_path_factory.mktemp("sfm")
    scene = synthesize(CONF, out / "scene")
    images = scene / "images"
    names = [f"day/frame_{k:03d}.png" for k in range(CONF.num_cameras)]
    (out / "list.txt").write_text("\n".join(names) + "\n")
    features = extract.main(extract.conf_by_name("sift"), images, out / "feats.h5", out / "list.txt")
    pairs_path = pairs.exhaustive(names, out / "pairs.txt")
    matches = match.main(match_conf("nn-ratio"), pairs_path, features, out / "matches.h5")
    model = sfm.main(sfm.SfMConf(), images, pairs_path, features, matches, out / "model")
    # the same pairs as a person may write them: a byte-order mark, a comment, tabs and blank lines
    lines = pairs_path.read_text().splitlines()
    messy = out / "pairs-messy.txt"
    messy.write_text("\ufeff# every pair\n" + "\n\n".join(line.replace(" ", "\t") for line in lines) + "\n")
    again = sfm.main(sfm.SfMConf(), images, messy, features, matches, out / "again")
    for image in model.images.values():  # the same model on every run (2 threads gave another one each time)
        same = again.find_image_with_name(image.name).cam_from_world()
        assert np.array_equal(image.cam_from_world().matrix(), same.matrix()), image.name
    return scene, names, model


def test_all_images_registered_with_small_reprojection_error(reconstructed):
    scene, names, model = reconstructed
    assert model.num_reg_images() == CONF.num_cameras and sfm.unregistered(model, names) == []
    assert model.num_points3D() > 100
    assert model.compute_mean_reprojection_error() < 1.0
    written = pycolmap.Reconstruction(scene.parent / "model")
    assert written.num_reg_images() == CONF.num_cameras


def test_cameras_agree_with_ground_truth_after_sim3(reconstructed):
    scene, names, model = reconstructed
    truth = pycolmap.Reconstruction(scene / "model")
    extent = json.loads((scene / "scene.json").read_text())["extent"]["diagonal"]
    tolerance = 0.01 * extent
    aligned = pycolmap.Reconstruction(model)
    sim3 = pycolmap.align_reconstructions_via_proj_centers(aligned, truth, tolerance)
    assert sim3 is not None
    aligned.transform(sim3)
    estimated, true_poses = model_poses(aligned), model_poses(truth)
    for name in names:
        distance, angle = pose_errors(estimated[name], true_poses[name])
        assert distance < tolerance, (name, distance, tolerance)
        assert angle < 1.0, (name, angle)


def test_cli_refuses_to_write_the_model_over_the_image_folder(tmp_path: Path):
    images = tmp_path / "images"
    for k in range(2):
        write_image(images / f"{k}.png", textured_image(k, 64, 48))
    for name in ("pairs.txt", "feats.h5", "matches.h5"):  # inputs exist: OUT is checked before they are read
        (tmp_path / name).write_bytes(b"")
    before = tree_digest(tmp_path)
    inputs = [str(images), str(tmp_path / "pairs.txt"), str(tmp_path / "feats.h5"), str(tmp_path / "matches.h5")]
    result = CliRunner().invoke(app, ["sfm", *inputs, str(images)])
    assert_one_line_error(result, f"OUT {images}: is also the input IMAGES; write elsewhere")
    assert tree_digest(tmp_path) == before


def test_features_without_image_size_fail_in_one_line_naming_file_and_image(tmp_path: Path):
    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "feats.h5", "w") as handle:  # as written by a tool that does not record image sizes
        for name in ("a.png", "b.png"):
            handle[f"{name}/keypoints"] = rng.uniform(0, 100, (10, 2)).astype(np.float32)
            handle[f"{name}/descriptors"] = rng.random((128, 10)).astype(np.float32)
    with atomic_writer(tmp_path / "matches.h5", resume=False) as handle:
        write_matches(handle, "a.png", "b.png", np.arange(10), np.ones(10))
    (tmp_path / "pairs.txt").write_text("a.png b.png\n")
    args = [tmp_path, tmp_path / "pairs.txt", tmp_path / "feats.h5", tmp_path / "matches.h5", tmp_path / "model"]
    result = CliRunner().invoke(app, ["sfm", *map(str, args)])
    assert_one_line_error(result, f"{tmp_path / 'feats.h5'}: image 'a.png' lacks dataset(s) image_size")
    assert not (tmp_path / "model").exists()
