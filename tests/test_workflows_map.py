"""vloc map: the 10 Sacre Coeur photos all register with the default configuration, work in MAP_DIR is reused, and
too few photos or photos that do not register get a clear message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pycolmap
import pytest
from helpers import assert_one_line_error, textured_image, write_image
from typer.testing import CliRunner

from vloc.cli import app
from vloc.extractors.sift import SIFT
from vloc.io.text import read_pairs
from vloc.matchers.nearest_neighbor import NearestNeighbor
from vloc.workflows import map as map_workflow


def test_default_configuration_registers_all_sacre_coeur_photos(sacre_coeur_map):
    images, map_dir, output = sacre_coeur_map
    model = pycolmap.Reconstruction(map_dir / "model")
    assert model.num_reg_images() == 10 and model.num_points3D() > 1500  # measured 1580-1596 over 8 SfM seeds
    assert model.compute_mean_reprojection_error() < 0.5  # measured 0.324 px (seed 0)
    info = json.loads((map_dir / "map.json").read_text())
    assert len(info["registered"]) == 10 and info["unregistered"] == []
    assert info["recipe"] == {"extract": "sift-colmap", "match": "nn-ratio", "retrieval": "vlad", "overrides": []}
    assert info["conf"]["extract"]["model"]["backend"] == "pycolmap" and info["image_root"] == str(images.resolve())
    assert info["files"] == {
        "features": "feats-sift-colmap-n8192-r1600.h5",
        "pairs": "pairs-exhaustive.txt",
        "matches": "matches-nn-ratio_feats-sift-colmap-n8192-r1600_pairs-exhaustive.h5",
        "model": "model",
    }
    assert len(read_pairs(map_dir / "pairs-exhaustive.txt")) == 45 == info["num_pairs"]
    assert "10/10 photos registered" in output and "did not register" not in output


def test_a_second_run_reuses_features_and_matches(sacre_coeur_map, tmp_path: Path, monkeypatch):
    images, map_dir, _ = sacre_coeur_map
    map_dir = Path(shutil.copytree(map_dir, tmp_path / "sacre_coeur"))  # the shared map stays as it was built

    def must_not_run(*args, **kwargs):
        raise AssertionError("extracted or matched again")

    monkeypatch.setattr(SIFT, "_forward", must_not_run)
    monkeypatch.setattr(NearestNeighbor, "_forward", must_not_run)
    info = map_workflow.main(map_workflow.MapRecipe(), images, map_dir)
    assert len(info["registered"]) == 10


def test_too_few_photos_and_a_foreign_model_folder_are_one_line_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["map", str(tmp_path / "empty"), str(tmp_path / "map")])
    assert_one_line_error(result, "empty: no images found")
    write_image(tmp_path / "one" / "a.png", textured_image(0, 160, 120))
    result = CliRunner().invoke(app, ["map", str(tmp_path / "one"), str(tmp_path / "map")])
    assert_one_line_error(result, "one: one photo (a.png); a map needs at least 2 photos")
    write_image(tmp_path / "one" / "b.png", textured_image(1, 160, 120))
    (tmp_path / "other" / "model").mkdir(parents=True)
    result = CliRunner().invoke(app, ["map", str(tmp_path / "one"), str(tmp_path / "other")])
    assert_one_line_error(result, "model: exists but has no map.json beside it")
    write_image(tmp_path / "one" / "photo (1).png", textured_image(2, 160, 120))  # as some phones and desktops name
    result = CliRunner().invoke(app, ["map", str(tmp_path / "one"), str(tmp_path / "map")])
    assert_one_line_error(result, "photo (1).png: image name contains whitespace", "; rename it")
    assert "--skip-unreadable" not in result.output  # an option map does not have
    assert not (tmp_path / "map").exists()


def test_photos_that_match_nothing_say_what_to_try(tmp_path):
    for seed in range(3):
        write_image(tmp_path / "noise" / f"{seed}.png", textured_image(seed, 160, 120))
    result = CliRunner().invoke(app, ["map", str(tmp_path / "noise"), str(tmp_path / "map")])
    assert_one_line_error(result, "no two of the 3 photos match well enough", "--conf sift", "max_keypoints")
    info = {"unregistered": [f"{k}.jpg" for k in range(12)], "recipe": {"extract": "sift"}, "pairs": "vlad retrieval"}
    message = map_workflow.unregistered_message(info)
    assert message.startswith("12 photos did not register (0.jpg, 1.jpg, ") and "9.jpg and 2 more)" in message
    assert "--conf sift-colmap" in message and "--set num_retrieved=40" in message


def test_more_photos_than_max_exhaustive_are_paired_by_retrieval(tmp_path):
    """Six descriptors 10 degrees apart on a circle: each image is paired with its 2 nearest, every pair once."""
    names = [f"{k}.jpg" for k in range(6)]
    angles = np.radians(np.arange(6) * 10.0)
    with h5py.File(tmp_path / "global.h5", "w") as handle:
        for name, angle in zip(names, angles):
            handle.create_group(name).create_dataset("global_descriptor", data=[np.cos(angle), np.sin(angle)])
    map_workflow.retrieval_pairs(tmp_path / "global.h5", names, 2, tmp_path / "pairs.txt")
    expected = ["0 1", "0 2", "1 2", "2 3", "3 4", "3 5", "4 5"]  # 5's two nearest are 4 and 3
    assert read_pairs(tmp_path / "pairs.txt") == [tuple(f"{k}.jpg" for k in pair.split()) for pair in expected]
    recipe = map_workflow.MapRecipe(overrides=("max_exhaustive_images=5", "num_retrieved=2"))
    files = map_workflow.MapFiles.of(recipe, recipe.conf(), tmp_path, len(names))
    assert (files.pairs.name, files.global_descriptors.name) == ("pairs-vlad2.txt", "global-vlad.h5")
    assert files.matches.name == "matches-nn-ratio_feats-sift-colmap-n8192-r1600_pairs-vlad2.h5"


def test_overrides_reach_each_stage_and_unknown_keys_fail(tmp_path):
    recipe = map_workflow.MapRecipe("sift", overrides=("extract.max_keypoints=2048", "sfm.min_num_inliers=30"))
    conf = recipe.conf()
    assert (conf.extract.model.max_keypoints, conf.extract.model.backend, conf.sfm.min_num_inliers) == (
        2048,
        "opencv",
        30,
    )
    for seed in range(2):
        write_image(tmp_path / "photos" / f"{seed}.png", textured_image(seed, 160, 120))
    arguments = ["map", str(tmp_path / "photos"), str(tmp_path / "map"), "--set", "extract.octaves=3"]
    assert_one_line_error(CliRunner().invoke(app, arguments), "unknown config key 'extract.octaves'")
    assert not (tmp_path / "map").exists()


@pytest.mark.parametrize(
    ("content", "missing"),
    [
        ("{}", "recipe, files, pairs, registered"),
        ('{"recipe": {}, "files": {}, "pairs": "exhaustive"}', "registered"),
        ("[1, 2]", "recipe"),
    ],
)
def test_locate_names_what_a_hand_edited_or_old_map_json_lacks(tmp_path, content: str, missing: str):
    (tmp_path / "map").mkdir()
    (tmp_path / "map" / "map.json").write_text(content)
    write_image(tmp_path / "queries" / "q.png", textured_image(0, 160, 120))
    result = CliRunner().invoke(
        app, ["locate", str(tmp_path / "map"), str(tmp_path / "queries"), str(tmp_path / "out")]
    )
    assert_one_line_error(result, "map.json: not a map.json of vloc map (no valid", missing)
    assert not (tmp_path / "out").exists()
