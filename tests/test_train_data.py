"""vloc.train.data: synthetic, RGB-D and COLMAP pairs have geometrically right correspondences; augmentation; errors."""

from __future__ import annotations

import json
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np
import pycolmap
import pytest
import torch
from torch.utils.data import DataLoader

from vloc.errors import InputError, VlocError
from vloc.train.data import (
    AugmentConf,
    ColmapPairs,
    PairsConf,
    RGBDFrame,
    RGBDPairs,
    SyntheticPairs,
    augment,
    collate_pairs,
    read_depth,
    reproject,
)

MAX_POINTS = 300


@pytest.fixture(scope="module", autouse=True)
def one_thread(synthetic_map: dict[str, Path]):
    """On a loaded 2-core machine small torch ops stall in the 2-thread pool (measured 0.6 s -> 8-27 s to enumerate).

    The shared map is built first, with the default threads.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def synthetic(synthetic_map: dict[str, Path]) -> SyntheticPairs:
    return SyntheticPairs(synthetic_map["scene"], PairsConf(max_points=MAX_POINTS))


def _geometry(scene: Path, name: str) -> dict[str, np.ndarray]:
    with np.load(scene / "geometry" / f"{Path(name).stem}.npz") as data:
        return {key: data[key] for key in ("depth", "scene_coordinates")}


def _frame(name: str) -> str:
    return name.split("/", 1)[1]


def test_synthetic_pairs_cover_conditions_and_viewpoints(synthetic: SyntheticPairs):
    kinds = Counter((a.split("/")[0], b.split("/")[0], _frame(a) == _frame(b)) for a, b in synthetic.pairs)
    # the fixture scene has 24 cameras in day and night: every frame day -> night, then overlapping viewpoints
    assert kinds[("day", "night", True)] == 24
    assert set(kinds) == {("day", "night", True), ("day", "day", False), ("day", "night", False)}
    viewpoints = {
        c: {(_frame(a), _frame(b)) for a, b in synthetic.pairs if _frame(a) != _frame(b) and b.startswith(c)}
        for c in ("day", "night")
    }
    assert viewpoints["day"] == viewpoints["night"] and len(viewpoints["day"]) >= 23  # the same geometry
    assert ("frame_000.png", "frame_001.png") in viewpoints["day"]
    assert ("frame_000.png", "frame_023.png") not in viewpoints["day"]  # opposite ends of the street


def test_synthetic_correspondences_hit_the_same_scene_points(synthetic: SyntheticPairs, synthetic_map: dict[str, Path]):
    scene = synthetic_map["scene"]
    model = pycolmap.Reconstruction(scene / "model")
    diagonal = json.loads((scene / "scene.json").read_text())["extent"]["diagonal"]
    viewpoint = [k for k, (a, b) in enumerate(synthetic.pairs) if _frame(a) != _frame(b)]
    distances, relative = [], []
    for index in viewpoint[::8]:
        sample = synthetic[index]
        points0, points1 = sample["points0"].double().numpy(), sample["points1"].double().numpy()
        assert points0.shape == points1.shape == (MAX_POINTS, 2) and sample["points0"].dtype == torch.float32
        np.testing.assert_array_equal(points0 % 1, 0.5)  # pixel centres of image 0
        geometry0, geometry1 = _geometry(scene, sample["name0"]), _geometry(scene, sample["name1"])
        world0 = geometry0["scene_coordinates"][(points0[:, 1]).astype(int), (points0[:, 0]).astype(int)]
        assert np.isfinite(world0).all()
        # the world point of pixel 0 projects exactly onto pixel 1 (pycolmap, not vloc's projection code)
        image1 = model.find_image_with_name(sample["name1"])
        projected = image1.camera.img_from_cam(image1.cam_from_world() * world0.astype(np.float64))
        np.testing.assert_allclose(projected, points1, atol=2e-3)
        # ... and is what image 1 sees there: not occluded (the nearest pixel is within ~1 footprint at grazing views)
        rows, cols = np.floor(points1[:, 1]).astype(int), np.floor(points1[:, 0]).astype(int)
        world1 = geometry1["scene_coordinates"][rows, cols]
        distance = np.linalg.norm(world0 - world1, axis=1)
        distances.append(distance)
        relative.append(distance / geometry1["depth"][rows, cols])
    distances, relative = np.concatenate(distances), np.concatenate(relative)
    # measured: median 2e-4 and 99 % 3e-3 of the 74 m diagonal; at most 1.3 % of the depth (grazing ground)
    assert np.median(distances) < 5e-4 * diagonal and np.percentile(distances, 99) < 6e-3 * diagonal
    assert relative.max() < 0.02


def test_same_frame_pairs_have_identity_flow(synthetic: SyntheticPairs, synthetic_map: dict[str, Path]):
    same = [k for k, (a, b) in enumerate(synthetic.pairs) if _frame(a) == _frame(b)]
    for index in same[::10]:
        points0, points1 = synthetic.correspondences(index)
        depth = _geometry(synthetic_map["scene"], synthetic.pairs[index][0])["depth"]
        assert len(points0) == np.count_nonzero(depth > 0)  # every non-sky pixel, none lost to the depth check
        assert (points1 - points0).abs().max() < 1e-6
        sample = synthetic[index]
        assert sample["name0"].startswith("day/") and sample["name1"].startswith("night/")
        assert torch.equal(sample["points0"], sample["points1"]) and len(sample["points0"]) == MAX_POINTS


def test_colmap_pairs_are_observations_of_shared_points(synthetic_map: dict[str, Path]):
    model = pycolmap.Reconstruction(synthetic_map["model"])
    dataset = ColmapPairs(synthetic_map["model"], synthetic_map["images"], PairsConf(min_correspondences=100))
    shared = Counter()
    for point in model.points3D.values():
        names = sorted({model.images[e.image_id].name for e in point.track.elements})
        shared.update(combinations(names, 2))
    expected = sorted(pair for pair, count in shared.items() if count >= 100)
    assert dataset.pairs == expected and len(expected) >= 10
    errors = []
    for index, (name0, name1) in enumerate(dataset.pairs):
        points0, points1 = (p.numpy() for p in dataset.correspondences(index))
        assert len(points0) == shared[(name0, name1)]
        image0, image1 = model.find_image_with_name(name0), model.find_image_with_name(name1)
        observed = {tuple(p.xy): p.point3D_id for p in image0.get_observation_points2D()}
        xyz = np.array([model.points3D[observed[tuple(p)]].xyz for p in points0])
        for image, points in ((image0, points0), (image1, points1)):
            errors.append(np.linalg.norm(image.camera.img_from_cam(image.cam_from_world() * xyz) - points, axis=1))
    errors = np.concatenate(errors)
    # measured: median 0.13 px, max 3.9 px (the triangulator keeps observations under 4 px)
    assert np.median(errors) < 0.5 and errors.max() < 4.0


def test_resizing_scales_images_and_points(synthetic_map: dict[str, Path]):
    full = ColmapPairs(synthetic_map["model"], synthetic_map["images"], PairsConf(max_points=64))
    half = ColmapPairs(synthetic_map["model"], synthetic_map["images"], PairsConf(max_points=64, max_side=320))
    big, small = full[3], half[3]
    assert big["image0"].shape == (1, 480, 640) and small["image1"].shape == (1, 240, 320)
    assert small["image0"].min() >= 0 and small["image0"].max() <= 1
    torch.testing.assert_close(small["points0"], big["points0"] / 2)
    torch.testing.assert_close(small["points1"], big["points1"] / 2)


def test_augmentation_changes_pixels_keeps_points(synthetic_map: dict[str, Path]):
    images, model = synthetic_map["images"], synthetic_map["model"]
    plain = ColmapPairs(model, images, PairsConf(grayscale=False))
    jitter = ColmapPairs(model, images, PairsConf(grayscale=False, augment=AugmentConf(enabled=True)))
    before, after = plain[0], jitter[0]
    assert after["image0"].shape == (3, 480, 640)
    assert torch.equal(before["points0"], after["points0"]) and torch.equal(before["points1"], after["points1"])
    for key in ("image0", "image1"):
        assert (after[key] - before[key]).abs().mean() > 0.01
        assert after[key].min() >= 0 and after[key].max() <= 1
    assert torch.equal(jitter[0]["image0"], after["image0"])  # deterministic per seed, epoch and index
    jitter.set_epoch(1)
    assert not torch.equal(jitter[0]["image0"], after["image0"])
    # the two images of a pair get independent draws; a generator with the same seed repeats them
    image = before["image0"]
    generator = torch.Generator().manual_seed(5)
    first, second = augment(image, AugmentConf(), generator), augment(image, AugmentConf(), generator)
    assert (first - second).abs().mean() > 0.01
    assert torch.equal(augment(image, AugmentConf(), torch.Generator().manual_seed(5)), first)


def test_data_loader_batches_padded_points(synthetic: SyntheticPairs):
    loader = DataLoader(synthetic, batch_size=3, collate_fn=collate_pairs)
    batch = next(iter(loader))
    assert batch["image0"].shape == batch["image1"].shape == (3, 1, 480, 640)
    assert batch["points0"].shape == (3, MAX_POINTS, 2) and batch["mask"].sum().item() == 3 * MAX_POINTS
    assert batch["name0"] == [synthetic.pairs[k][0] for k in range(3)]


def test_rgbd_pairs_from_depth_files_and_no_pair_errors(
    synthetic: SyntheticPairs, synthetic_map: dict[str, Path], tmp_path: Path
):
    scene, images = synthetic_map["scene"], synthetic_map["images"]
    model = pycolmap.Reconstruction(scene / "model")
    frames = {}
    for name in ("day/frame_000.png", "day/frame_001.png", "day/frame_023.png"):
        np.save(tmp_path / f"{_frame(name)}.npy", _geometry(scene, name)["depth"])
        image = model.find_image_with_name(name)
        frames[name] = RGBDFrame(name, tmp_path / f"{_frame(name)}.npy", image.camera, image.cam_from_world())
    dataset = RGBDPairs(images, [frames["day/frame_000.png"], frames["day/frame_001.png"]])
    assert dataset.pairs == [("day/frame_000.png", "day/frame_001.png")]
    reference = synthetic.correspondences(synthetic.pairs.index(dataset.pairs[0]))
    for ours, theirs in zip(dataset.correspondences(0), reference):
        assert torch.equal(ours, theirs) and len(ours) > 50000

    with pytest.raises(InputError) as error:  # opposite ends of the street
        RGBDPairs(images, [frames["day/frame_000.png"], frames["day/frame_023.png"]])
    assert str(error.value) == f"{images}: no image pair with at least 100 correspondences and 15% overlap"
    with pytest.raises(InputError, match=f"^{scene}: no image pair with at least 307201 correspondences"):
        SyntheticPairs(scene, PairsConf(min_correspondences=640 * 480 + 1))
    with pytest.raises(InputError) as error:
        ColmapPairs(synthetic_map["model"], images, PairsConf(min_correspondences=10_000))
    assert str(error.value) == f"{synthetic_map['model']}: no image pair with at least 10000 shared 3D points"


def test_reprojection_through_distorted_cameras_agrees_with_pycolmap():
    """World points seen by two distorted cameras: pixel and depth in frame 0 give pycolmap's pixel in frame 1."""
    camera0 = pycolmap.Camera(model="SIMPLE_RADIAL", width=640, height=480, params=[500, 320, 240, -0.1])
    camera1 = pycolmap.Camera(
        model="OPENCV", width=640, height=480, params=[480, 490, 330, 235, 0.05, -0.02, 0.002, 0.001]
    )
    pose0 = pycolmap.Rigid3d()
    pose1 = pycolmap.Rigid3d(pycolmap.Rotation3d(np.array([0.0, 0.05, 0.0])), np.array([-0.3, 0.0, 0.05]))
    world = np.random.default_rng(0).uniform([-1.0, -0.8, 3.0], [1.0, 0.8, 5.0], (100, 3))
    frame0, frame1 = (
        RGBDFrame("unused.png", Path("unused.npy"), camera, pose)
        for camera, pose in ((camera0, pose0), (camera1, pose1))
    )
    pixels1, depths1, valid = reproject(
        torch.from_numpy(camera0.img_from_cam(world)), torch.from_numpy(world[:, 2]), frame0, frame1
    )
    in_frame1 = (pose1.rotation.matrix() @ world.T).T + pose1.translation
    assert valid.float().mean() > 0.8
    np.testing.assert_allclose(pixels1.numpy(), camera1.img_from_cam(in_frame1), atol=1e-6)
    np.testing.assert_allclose(depths1.numpy(), in_frame1[:, 2], atol=1e-9)


@pytest.mark.parametrize("suffix", [".npz", ".npy", ".png"])
def test_zero_byte_depth_files_fail_in_one_line_naming_them(tmp_path: Path, suffix: str):
    camera = pycolmap.Camera(model="SIMPLE_PINHOLE", width=4, height=3, params=[4, 2, 1.5])
    path = tmp_path / f"depth{suffix}"
    path.write_bytes(b"")
    with pytest.raises(VlocError) as error:
        read_depth(RGBDFrame("a.png", path, camera, pycolmap.Rigid3d()))
    assert str(error.value).startswith(f"{path}: not a readable depth") and "\n" not in str(error.value)
