"""vloc synth: ground-truth geometry consistent with the poses, determinism, conditions, model and splits."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import pytest

from vloc.errors import ConfigError
from vloc.io.text import read_image_list, read_queries
from vloc.synth import SynthConfig, main
from vloc.synth.render import build_world, cast, geometry_maps

CONF = SynthConfig(seed=3, num_cameras=6, width=320, height=240, focal=250.0, num_buildings=6)


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    return main(CONF, tmp_path_factory.mktemp("synth") / "scene")


def _geometry(root: Path, k: int) -> dict[str, np.ndarray]:
    with np.load(root / "geometry" / f"frame_{k:03d}.npz") as data:
        return {key: data[key] for key in data}


def _rgb(root: Path, name: str) -> np.ndarray:
    return cv2.imread(str(root / "images" / name), cv2.IMREAD_COLOR)


def test_files_model_and_splits(scene: Path):
    model = pycolmap.Reconstruction(scene / "model")
    names = sorted(f"{c}/frame_{k:03d}.png" for c in CONF.conditions for k in range(CONF.num_cameras))
    assert model.num_reg_images() == CONF.num_cameras * len(CONF.conditions) == 18
    assert sorted(image.name for image in model.images.values()) == names
    assert all((scene / "images" / name).is_file() for name in names)
    assert not list(scene.rglob("*.tmp"))
    camera = next(iter(model.cameras.values()))
    assert camera.model_name == "SIMPLE_PINHOLE" and (camera.width, camera.height) == (320, 240)
    np.testing.assert_allclose(camera.params, [250.0, 160.0, 120.0])
    assert sorted(read_queries(scene / "queries.txt")) == names

    mapping = read_image_list(scene / "splits" / "mapping.txt")
    assert mapping == ["day/frame_000.png", "day/frame_002.png", "day/frame_004.png"]
    for condition in CONF.conditions:
        queries = read_image_list(scene / "splits" / f"query_{condition}.txt")
        assert queries == [f"{condition}/frame_{k:03d}.png" for k in (1, 3, 5)]
        assert set(queries) <= set(names) and not set(queries) & set(mapping)
    # the same camera in two conditions has the same pose
    day, night = model.find_image_with_name("day/frame_003.png"), model.find_image_with_name("night/frame_003.png")
    np.testing.assert_allclose(day.cam_from_world().matrix(), night.cam_from_world().matrix())

    info = json.loads((scene / "scene.json").read_text())
    assert info["config"]["num_cameras"] == 6 and [i["id"] for i in info["instances"]] == [1, 2, 3, 4, 5, 6]
    (fine_m, fine_deg), coarse = info["thresholds"][0], info["thresholds"][-1]
    assert fine_m == pytest.approx(0.0005 * info["extent"]["diagonal"], rel=1e-2) and fine_deg == 0.5
    assert coarse[0] > fine_m and 5 < info["extent"]["diagonal"] < 500


def test_geometry_matches_poses(scene: Path):
    model = pycolmap.Reconstruction(scene / "model")
    seen = set()
    for k in range(CONF.num_cameras):
        geometry = _geometry(scene, k)
        depth, xyz, normals, instances = (
            geometry[key] for key in ("depth", "scene_coordinates", "normals", "instances")
        )
        assert depth.shape == (240, 320) and xyz.shape == (240, 320, 3) and instances.dtype == np.int32
        assert depth.dtype == xyz.dtype == normals.dtype == np.float32
        solid = depth > 0
        assert 0.3 < solid.mean() < 1.0  # some sky, mostly scene
        assert np.isnan(xyz[~solid]).all() and np.isfinite(xyz[solid]).all() and (instances[~solid] == 0).all()

        image = model.find_image_with_name(f"day/frame_{k:03d}.png")
        pose = image.cam_from_world()
        cam_points = pose * xyz[solid].astype(np.float64)
        np.testing.assert_allclose(cam_points[:, 2], depth[solid], rtol=1e-5)
        projected = image.camera.img_from_cam(cam_points)
        rows, cols = np.nonzero(solid)
        error = np.abs(projected - np.stack([cols + 0.5, rows + 0.5], axis=1))
        assert error.max() < 1e-3

        np.testing.assert_allclose(np.linalg.norm(normals[solid], axis=1), 1.0, atol=1e-6)
        to_camera = pose.inverse().translation - xyz[solid]
        assert (np.einsum("ij,ij->i", normals[solid], to_camera) > 0).all()
        on_ground = solid & (instances == 0)
        np.testing.assert_allclose(xyz[on_ground][:, 2], 0.0, atol=1e-4)
        assert (normals[on_ground] == [0, 0, 1]).all()
        seen |= set(np.unique(instances[solid]).tolist())
    assert seen == set(range(0, CONF.num_buildings + 1))


def test_scene_coordinates_lie_on_their_box(scene: Path):
    info = json.loads((scene / "scene.json").read_text())
    boxes = {i["id"]: (np.array(i["min"]), np.array(i["max"])) for i in info["instances"]}
    geometry = _geometry(scene, 2)
    for instance, (lo, hi) in boxes.items():
        points = geometry["scene_coordinates"][geometry["instances"] == instance]
        assert np.all(points >= lo - 1e-4) and np.all(points <= hi + 1e-4)
        # on the surface: at least one coordinate is on a face
        on_face = np.min(np.minimum(np.abs(points - lo), np.abs(points - hi)), axis=1)
        assert np.all(on_face < 1e-4)


def test_conditions(scene: Path):
    for k in range(CONF.num_cameras):
        day = _rgb(scene, f"day/frame_{k:03d}.png").astype(np.float32)
        night = _rgb(scene, f"night/frame_{k:03d}.png").astype(np.float32)
        season = _rgb(scene, f"season/frame_{k:03d}.png").astype(np.float32)
        assert day.shape == night.shape == season.shape == (240, 320, 3)
        assert night.mean() < 0.7 * day.mean()
        assert np.abs(season - day).mean() > 10  # a visible change
        assert day.std() > 30  # textured, not flat


def test_deterministic(scene: Path, tmp_path: Path):
    again = main(CONF, tmp_path / "again")
    for name in ("day/frame_001.png", "night/frame_000.png", "season/frame_001.png"):
        assert (again / "images" / name).read_bytes() == (scene / "images" / name).read_bytes()
    other, same = _geometry(again, 1), _geometry(scene, 1)
    for key in same:
        np.testing.assert_array_equal(other[key], same[key])

    world = build_world(replace(CONF, seed=4))
    rotation, translation = world.poses[1]
    changed = geometry_maps(world, cast(world, rotation, translation, 250.0, 320, 240), 320, 240)
    assert not np.array_equal(changed["depth"], same["depth"])


def test_resume_and_config_guard(scene: Path):
    before = (scene / "geometry" / "frame_000.npz").stat().st_mtime_ns
    main(CONF, scene)  # everything is there: nothing is rendered again
    assert (scene / "geometry" / "frame_000.npz").stat().st_mtime_ns == before
    with pytest.raises(ConfigError):
        main(replace(CONF, seed=9), scene)
    with pytest.raises(ConfigError):
        SynthConfig(layout="forest").validate()
    with pytest.raises(ConfigError):
        SynthConfig(conditions=("day", "fog")).validate()


def test_ring_layout(tmp_path: Path):
    conf = SynthConfig(
        seed=1, num_cameras=4, width=160, height=120, focal=125.0, layout="ring", num_buildings=4, conditions=("day",)
    )
    root = main(conf, tmp_path / "ring")
    assert pycolmap.Reconstruction(root / "model").num_reg_images() == 4
    seen = set()
    for k in range(4):
        geometry = _geometry(root, k)
        seen |= set(np.unique(geometry["instances"]).tolist())
        # cameras look at the cluster: the image centre sees a building
        assert geometry["instances"][50:70, 70:90].max() > 0
    assert seen >= {1, 2, 3, 4}
