"""SuperPoint: vloc's network loads a state dict of the released layout (random weights here: the released ones are
not shipped), decodes keypoints and descriptors in vloc's pixel convention, and says where it looked for weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import textured_image

from vloc.errors import InputError
from vloc.extractors.superpoint import SuperPoint, SuperPointConf
from vloc.io.features import Features
from vloc.matchers.lightglue import LightGlue, LightGlueConf
from vloc.models.superpoint import SuperPointNet, detect_keypoints, sample_descriptors


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("superpoint") / "superpoint_v1.pth"
    torch.save(SuperPointNet().state_dict(), path)
    return path


def test_random_weights_give_keypoints_and_unit_descriptors_of_the_released_shapes(random_weights: Path):
    extractor = SuperPoint(SuperPointConf(weights=str(random_weights), max_keypoints=100, detection_threshold=0.0))
    image = textured_image(0, 160, 120)
    features = extractor(image)
    keypoints, descriptors = features["keypoints"], features["descriptors"]
    assert len(keypoints) == 100 and descriptors.shape == (256, 100)
    assert (keypoints >= 4).all() and (keypoints <= [160 - 5, 120 - 5]).all()  # the borders are removed
    np.testing.assert_allclose(np.linalg.norm(descriptors.astype(np.float32), axis=0), 1, atol=2e-3)
    assert (np.diff(features["scores"]) <= 0).all()  # strongest first


def test_detection_keeps_the_strongest_separated_maxima_off_the_borders():
    heatmap = torch.zeros(40, 60)
    for (x, y), score in {(10, 10): 0.9, (12, 11): 0.5, (30, 20): 0.7, (2, 20): 0.95, (50, 30): 0.3}.items():
        heatmap[y, x] = score
    keypoints, scores = detect_keypoints(heatmap, threshold=0.1, nms_radius=4, border=4, max_keypoints=2)
    # (12, 11) lies within 4 px of the stronger (10, 10); (2, 20) in the border; (50, 30) is the third strongest
    assert keypoints.tolist() == [[10.0, 10.0], [30.0, 20.0]] and scores.tolist() == pytest.approx([0.9, 0.7])


def test_descriptors_are_sampled_where_the_pixel_centres_fall_in_the_cells():
    """A map whose first channel is the cell column: the descriptor at pixel x reads cell (x + 0.5) / 8 - 0.5."""
    cells = torch.arange(10.0)
    descriptor_map = torch.zeros(1, 256, 4, 10)
    descriptor_map[0, 0] = cells
    descriptor_map[0, 1] = 20.0  # a constant, so that normalisation keeps the ratio readable
    keypoints = torch.tensor([[3.5, 16.0], [11.5, 3.0], [43.5, 20.0]])
    sampled = sample_descriptors(descriptor_map, keypoints)
    np.testing.assert_allclose((sampled[0] / sampled[1] * 20).numpy(), [0.0, 1.0, 5.0], atol=1e-5)


def test_missing_weights_name_the_file_looked_for(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    expected = tmp_path / "hub" / "checkpoints" / "superpoint_v1.pth"
    with pytest.raises(InputError, match=f"SuperPoint weights not found: expected {expected}"):
        SuperPoint(SuperPointConf())
    expected = tmp_path / "hub" / "checkpoints" / "superpoint_lightglue_v0-1_arxiv.pth"
    with pytest.raises(InputError, match=f"expected {expected}"):
        LightGlue(LightGlueConf(features="superpoint"))


def test_lightglue_for_superpoint_loads_256_d_weights_and_matches_their_features(tmp_path: Path, random_weights: Path):
    import kornia.feature

    torch.manual_seed(0)
    weights = tmp_path / "superpoint_lightglue.pth"
    torch.save(kornia.feature.LightGlue(features=None, input_dim=256).state_dict(), weights)
    matcher = LightGlue(LightGlueConf(features="superpoint", weights=str(weights)))
    extractor = SuperPoint(SuperPointConf(weights=str(random_weights), max_keypoints=100, detection_threshold=0.0))
    prepared = []
    for seed in (0, 1):
        found = extractor(textured_image(seed, 160, 120))
        size = np.array([160, 120])
        prepared.append(matcher.prepare(Features(found["keypoints"], found["descriptors"], found["scores"], size)))
    [(matches0, scores0, _)] = matcher(prepared[0], [prepared[1]])
    assert matches0.shape == scores0.shape == (100,) and matches0.dtype == np.int64
    assert ((matches0 == -1) | ((matches0 >= 0) & (matches0 < 100))).all()
