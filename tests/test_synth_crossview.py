"""vloc synth-crossview: what a ground camera sees of the flat ground lies, on the aerial image, where its pose says;
scenes already rendered are kept, another config is refused."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch.nn.functional as F

from vloc.errors import ConfigError
from vloc.io.crossview import read_crossview
from vloc.models.crossview import CrossviewConf, prepare_input, tile_pixels, truth_in_tile
from vloc.synth.crossview import CrossviewSynthConfig, main

CONF = CrossviewSynthConfig(num_scenes=1, num_test_scenes=0, views_per_scene=4, conditions=("day",))


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    out = tmp_path_factory.mktemp("crossview") / "data"
    main(CONF, out)
    return out


def bird_view_agreement(dataset, view, pose) -> float:
    """Correlation of the ground image projected on the flat ground, placed on the aerial tile as if the camera were
    at `pose`, with the tile (over the pixels the projection covers)."""
    conf = CrossviewConf()  # 32 x 32 cells of 4 tile pixels
    aerial = dataset.aerial_image(view.aerial)
    x = prepare_input(dataset.ground_image(view), view.camera, view.camera_height, aerial, 0.25, view.prior, conf)
    bird = F.interpolate(F.grid_sample(x.ground[None], x.sampling[None], align_corners=False), scale_factor=4)
    valid = F.interpolate(x.valid[None], scale_factor=4)
    motion = truth_in_tile(x.frame, pose)
    rotation = motion.rotation()[0]
    source = (tile_pixels(128) - motion.translation[0]) @ rotation  # where each tile pixel comes from in the view
    grid = (source / 128 * 2 - 1).reshape(1, 128, 128, 2)
    placed = F.grid_sample(bird, grid, align_corners=False)[0]
    covered = F.grid_sample(valid, grid, align_corners=False)[0, 0] > 0.99
    return float(np.corrcoef(placed[:, covered].flatten(), x.tile[:, covered].flatten())[0, 1])


def test_the_ground_seen_by_each_camera_lies_under_its_pose_on_the_aerial_image(scene):
    dataset = read_crossview(scene)
    at_truth = [bird_view_agreement(dataset, v, v.pose) for v in dataset.views]
    at_prior = [bird_view_agreement(dataset, v, v.prior) for v in dataset.views]
    assert len(dataset.views) == 4 and dataset.aerial_image("scene_000").shape == (640, 640, 3)
    assert all(t > p + 0.1 for t, p in zip(at_truth, at_prior)), (at_truth, at_prior)
    assert np.median(at_truth) > 0.45, at_truth


def test_scenes_already_rendered_are_kept_and_another_config_is_refused(scene):
    image = scene / "ground" / "day" / "scene_000_00.png"
    written = image.stat().st_mtime_ns
    assert main(CONF, scene) == 4 and image.stat().st_mtime_ns == written
    with pytest.raises(ConfigError, match="another config"):
        main(replace(CONF, seed=1), scene)
    assert json.loads((scene / "synth_crossview.json").read_text())["seed"] == 0


def test_scene_size_must_hold_the_views_and_priors():
    with pytest.raises(ConfigError, match="inside the scene"):
        main(replace(CONF, view_radius=70.0), None)
    with pytest.raises(ConfigError, match="must be positive"):
        replace(CONF, camera_height=0.0)
