"""Scene coordinate regression frames from a vloc synth scene: labels at the network's cells agree with the camera."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vloc.errors import FormatError, InputError
from vloc.models.scr import cell_centres
from vloc.train.scr_data import CoordinateFrame, CoordinateSamples, read_labels, synthetic_frames


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


def test_missing_or_incomplete_labels_are_one_line_errors(scr_scene: Path, tmp_path: Path):
    frame = synthetic_frames(scr_scene, "day")[0]
    with pytest.raises(InputError, match=r"labels \(scene coordinates and depth\) not found"):
        read_labels(CoordinateFrame(frame.image, tmp_path / "none.npz", frame.camera, frame.cam_from_world))
    np.savez(tmp_path / "coords_only.npz", scene_coordinates=np.zeros((124, 164, 3), np.float32))
    with pytest.raises(FormatError, match="coords_only.npz: no depth array"):
        read_labels(CoordinateFrame(frame.image, tmp_path / "coords_only.npz", frame.camera, frame.cam_from_world))
    with pytest.raises(InputError, match="no images of condition 'season'"):
        synthetic_frames(scr_scene, "season")
