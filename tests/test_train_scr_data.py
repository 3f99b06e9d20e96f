"""Scene coordinate regression frames from a vloc synth scene: labels at the network's cells agree with the camera."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vloc.errors import FormatError, InputError
from vloc.models.scr import cell_centres, normal_vectors
from vloc.train.scr_data import (
    AugmentationConf,
    CoordinateFrame,
    CoordinateSamples,
    normal_angles_of,
    read_labels,
    synthetic_frames,
)


def test_cells_see_the_scene_coordinates_their_camera_projects_there(scr_scene: Path):
    day, night = synthetic_frames(scr_scene, "day"), synthetic_frames(scr_scene, "night")
    assert len(day) == len(night) == 3 and [f.labels for f in day] == [f.labels for f in night]
    sample = CoordinateSamples(day)[1]
    assert sample["image"].shape == (3, 120, 160)  # cropped to multiples of the stride
    assert sample["coordinates"].shape == (3, 15, 20) and sample["depth"].shape == (1, 15, 20)
    known = torch.isfinite(sample["coordinates"]).all(0)
    assert known.float().mean() > 0.5 and torch.equal(known, torch.isfinite(sample["depth"][0]))
    pose = sample["cam_from_world"].double()
    camera = pose[:, :3] @ sample["coordinates"].double().flatten(1) + pose[:, 3:]
    pixels = sample["K"].double() @ (camera / camera[2])
    offsets = (pixels[:2].view(2, 15, 20) - cell_centres(15, 20).double())[:, known]
    assert offsets.abs().max() < 1e-3  # the centre of the cell's pixel
    assert torch.allclose(camera[2].view(15, 20)[known], sample["depth"][0][known].double(), rtol=1e-4)


def test_resized_and_augmented_frames_keep_labels_pose_and_normals_consistent(scr_scene: Path):
    """Zoomed and rolled frames: the labels picked for each cell still project into it (to the nearest source pixel)
    under the rolled camera, and the normals, turned into that camera, face it."""
    torch.manual_seed(0)
    augmentation = AugmentationConf(max_scale=1.25, max_rotation=20.0)
    samples = CoordinateSamples(synthetic_frames(scr_scene, "day"), 96, augmentation, with_normals=True)
    for index in range(3):
        sample = samples[index]
        height, width = sample["coordinates"].shape[1:]
        assert sample["image"].shape[1:] == (8 * height, 8 * width) and 8 <= height <= 15
        known = torch.isfinite(sample["coordinates"]).all(0)
        pose = sample["cam_from_world"].double()
        assert torch.allclose(pose[:, :3] @ pose[:, :3].T, torch.eye(3, dtype=torch.float64), atol=1e-6)
        camera = pose[:, :3] @ sample["coordinates"].double().flatten(1) + pose[:, 3:]
        pixels = sample["K"].double() @ (camera / camera[2])
        offsets = (pixels[:2].view(2, height, width) - cell_centres(height, width).double())[:, known]
        scale = sample["K"][0, 0] / 125.0  # new pixels per source pixel
        assert known.float().mean() > 0.4 and offsets.norm(dim=0).max() < scale * 0.75
        normals = normal_vectors(sample["normals"].double()[None])[0]
        facing = (normals.flatten(1) * camera).sum(0).view(height, width)
        assert (facing[known & torch.isfinite(facing)] < 0).float().mean() > 0.99


def test_missing_or_incomplete_labels_are_one_line_errors(scr_scene: Path, tmp_path: Path):
    frame = synthetic_frames(scr_scene, "day")[0]
    with pytest.raises(InputError, match=r"labels \(scene coordinates and depth\) not found"):
        read_labels(CoordinateFrame(frame.image, tmp_path / "none.npz", frame.camera, frame.cam_from_world))
    np.savez(tmp_path / "coords_only.npz", scene_coordinates=np.zeros((124, 164, 3), np.float32))
    with pytest.raises(FormatError, match="coords_only.npz: no depth array"):
        read_labels(CoordinateFrame(frame.image, tmp_path / "coords_only.npz", frame.camera, frame.cam_from_world))
    np.savez(tmp_path / "two.npz", scene_coordinates=np.zeros((124, 164, 2)), depth=np.zeros((124, 164)))
    with pytest.raises(FormatError, match=r"two.npz: scene_coordinates of shape \(124, 164, 2\), expected 124x164x3"):
        read_labels(CoordinateFrame(frame.image, tmp_path / "two.npz", frame.camera, frame.cam_from_world))
    with pytest.raises(InputError, match="no images of condition 'season'"):
        synthetic_frames(scr_scene, "season")


def test_normal_angles_round_trip_to_the_camera_frame_normals():
    normals = np.random.default_rng(0).normal(size=(50, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    angles = torch.from_numpy(normal_angles_of(normals).T[None, :, :, None])  # (1, 2, 50, 1)
    assert torch.allclose(normal_vectors(angles)[0, :, :, 0].T, torch.from_numpy(normals), atol=1e-9)
    assert np.allclose(normal_angles_of(np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0]])), [[0, 0], [-np.pi / 2, 0]])
    assert np.isnan(normal_angles_of(np.zeros((1, 3)))).all()
