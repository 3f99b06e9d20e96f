"""CrossLoc's scene coordinate regression networks and losses: stride-8 outputs with uncertainties, the label mean, the
fusion of frozen helper encoders, and the losses' values where they are known."""

from __future__ import annotations

import math

import pytest
import torch

from vloc.errors import ConfigError
from vloc.models.scr import (
    LOG_UNCERTAINTY_RANGE,
    FusedCoordinateNetwork,
    SceneCoordinateNetwork,
    SCRConf,
    cell_centres,
    normal_angles,
)
from vloc.train.scr_losses import (
    CoordinateLossConf,
    coordinate_loss,
    depth_loss,
    normal_angle_error,
    normal_loss,
)

TINY = {"widths": (8, 8, 16, 16), "channels": 16, "extra_blocks": 1, "groups": 4}


@pytest.mark.parametrize(("task", "channels"), [("coord", 3), ("depth", 1), ("normal", 2)])
def test_outputs_are_at_stride_8_with_a_positive_bounded_uncertainty(task, channels):
    net = SceneCoordinateNetwork(SCRConf(task=task, **TINY))
    values, uncertainty = net(torch.rand(2, 3, 64, 96))
    assert values.shape == (2, channels, 8, 12) and uncertainty.shape == (2, 1, 8, 12)
    low, high = (math.exp(v) for v in LOG_UNCERTAINTY_RANGE)
    assert ((uncertainty >= low * 0.999) & (uncertainty <= high * 1.001)).all()


def test_the_label_mean_is_the_output_of_a_silent_last_layer():
    net = SceneCoordinateNetwork(SCRConf(label_mean=(1.0, -2.0, 3.5), **TINY))
    last = net.decoder.blocks[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    values, uncertainty = net(torch.rand(1, 3, 32, 32))
    assert torch.equal(values[0, :, 0, 0], torch.tensor([1.0, -2.0, 3.5]))
    assert torch.allclose(uncertainty, torch.ones_like(uncertainty))  # exp(0)


def test_fusion_starts_from_the_trained_networks_trains_the_coordinate_encoder_and_keeps_the_helpers_frozen():
    coordinates = SceneCoordinateNetwork(SCRConf(**TINY))
    helpers = [SceneCoordinateNetwork(SCRConf(task=t, **TINY)) for t in ("depth", "normal")]
    fused = FusedCoordinateNetwork.from_networks(coordinates, helpers).train()
    image = torch.rand(2, 3, 32, 48)
    for source, copy in [(coordinates.encoder, fused.encoder), *zip((h.encoder for h in helpers), fused.frozen)]:
        assert torch.equal(source.eval()(image), copy.eval()(image))
    fused.train()
    values, uncertainty = fused(image)
    assert values.shape == (2, 3, 4, 6)
    (values.square().mean() + uncertainty.mean()).backward()
    assert all(p.grad is None and not p.requires_grad for p in fused.frozen.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in fused.encoder.parameters())
    assert all(not m.training for m in fused.frozen.modules()) and fused.decoder.training
    with pytest.raises(ConfigError, match="one coordinate network"):
        FusedCoordinateNetwork.from_networks(helpers[0], [coordinates])


def test_bad_configurations_are_one_line_errors():
    with pytest.raises(ConfigError, match="unknown scene coordinate regression task 'semantics'"):
        SCRConf(task="semantics")
    with pytest.raises(ConfigError, match="label_mean of task depth needs 1 values"):
        SCRConf(task="depth", label_mean=(1.0, 2.0))


def camera_scene(depth: float = 2.0, height: int = 3, width: int = 4):
    """World points seen by the cells of a camera at the origin looking down +z (identity pose), at one depth."""
    K = torch.tensor([[100.0, 0, 16], [0, 100.0, 12], [0, 0, 1]])
    pixels = cell_centres(height, width)
    rays = torch.linalg.solve(K, torch.cat([pixels, torch.ones(1, height, width)]).flatten(1))
    points = (rays * depth / rays[2]).view(1, 3, height, width)
    return points, torch.eye(3, 4)[None], K[None]


def test_coordinate_loss_is_zero_at_the_truth_and_clamps_reprojection():
    truth, pose, K = camera_scene()
    ones = torch.ones(1, 1, 3, 4)
    plain = CoordinateLossConf(uncertainty=False)
    assert coordinate_loss(truth, ones, truth, pose, K, plain) < 1e-5
    # without ground truth, a cell 8 m sideways at 2 m depth reprojects 400 px away: sqrt(100 * 400) = 200 counts
    moved = truth.clone()
    moved[0, 0, 0, 0] += 8.0
    no_truth = truth.clone()
    no_truth[0, :, 0, 0] = float("nan")
    assert coordinate_loss(moved, ones, no_truth, pose, K, plain) * 12 == pytest.approx(math.sqrt(100 * 400), rel=1e-4)
    moved[0, 0, 0, 0] += 40.0  # 2400 px: over the hard clamp, no term
    assert coordinate_loss(moved, ones, no_truth, pose, K, plain) < 1e-5
    # with ground truth 8 m away: the 3D error only (beyond the initialisation tolerance)
    moved[0, 0, 0, 0] = truth[0, 0, 0, 0] + 8.0
    assert coordinate_loss(moved, ones, truth, pose, K, plain) * 12 == pytest.approx(8.0, rel=1e-4)
    # maximum likelihood: 3 log s + e^2 / (2 s^2) = 3 log 2 + 64 / 8 on that cell, 3 log 2 on the others
    twos = 2 * ones
    expected = (12 * 3 * math.log(2) + 8.0) / 12
    assert coordinate_loss(moved, twos, truth, pose, K) == pytest.approx(expected, rel=1e-4)


def test_depth_and_normal_losses():
    truth = torch.tensor([[[[1.0, float("nan")]]]])
    assert depth_loss(torch.tensor([[[[1.5, 9.0]]]]), torch.ones(1, 1, 1, 2), truth, False) == pytest.approx(0.5)
    assert depth_loss(torch.tensor([[[[1.5, 9.0]]]]), torch.ones(1, 1, 1, 2), truth) == pytest.approx(0.125)
    # azimuths either side of +-pi are 0.1 apart, not 2 pi - 0.1
    angles = torch.tensor([math.pi - 0.05, 0.3]).view(1, 2, 1, 1)
    logits = torch.logit((angles / math.pi + 1) / 2)
    assert torch.allclose(normal_angles(logits), angles, atol=1e-5)
    truth_angles = torch.tensor([-math.pi + 0.05, 0.1]).view(1, 2, 1, 1)
    assert normal_angle_error(logits, truth_angles).item() == pytest.approx(2 * 0.1 + 0.2, abs=1e-4)
    assert normal_loss(logits, torch.ones(1, 1, 1, 1), truth_angles, False) == pytest.approx(0.4, abs=1e-4)
