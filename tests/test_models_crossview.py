"""DenseFlow's pieces: the flat-ground projection of the bird's-eye view, the correlation lookup, convex upsampling,
the pose from a flow field (exact from the true flow; confidence keeps wrong flow out), and the network's shapes."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from vloc.errors import ConfigError, InputError
from vloc.io.crossview import GroundCamera, PlanarPose, TileFrame
from vloc.models.crossview import (
    CrossviewConf,
    DenseFlowNetwork,
    FlowEstimate,
    camera_in_tile,
    convex_upsample,
    correlation_pyramid,
    ground_plane_sampling,
    lookup,
    pose_from_flow,
    prepare_input,
    tile_pixels,
    truth_in_tile,
)

TINY = CrossviewConf(ground_height=32, ground_width=96, tile_size=32, stride=4, channels=16, hidden=16, context=8)


def test_a_ground_point_projects_where_the_pinhole_says():
    conf = replace(CrossviewConf(), stride=8)  # 16 x 16 cells of 4 m
    camera = GroundCamera("SIMPLE_PINHOLE", 768, 256, (384.0, 384.0, 128.0))  # twice the network's input size
    grid, valid = ground_plane_sampling(camera, 1.65, conf)
    # cell (row 9, column 12): 4 m x (12.5 - 8) = 18 m ahead, 4 m x (9.5 - 8) = 6 m to the right
    column, row = 192 * 6 / 18 + 192, 192 * 1.65 / 18 + 64  # in the 384 x 128 input
    assert grid[9, 12] == pytest.approx([2 * column / 384 - 1, 2 * row / 128 - 1], abs=1e-5)
    assert valid[9, 12] and not valid[9, 3]  # behind the camera
    assert not valid[0, 9]  # 4.5 m ahead, 30 m to the left: outside the 90 degree view


def test_a_panorama_sees_all_around():
    conf = replace(CrossviewConf(), stride=8)
    camera = GroundCamera("EQUIRECTANGULAR", 1024, 512, ())
    grid, valid = ground_plane_sampling(camera, 2.0, conf)
    assert valid.all()
    # straight behind (row 8, column 2: 22 m back) is the panorama's left/right edge, 2 m below: below the horizon
    azimuth = (grid[8, 2, 0] + 1) / 2 * 2 * math.pi - math.pi
    assert abs(abs(azimuth) - math.pi) < 0.2
    assert grid[8, 2, 1] > 0


def test_lookup_at_zero_flow_reads_the_correlation_of_each_cell_with_itself():
    generator = torch.Generator().manual_seed(0)
    bev, aerial = torch.randn(2, 8, 6, 6, generator=generator), torch.randn(2, 8, 6, 6, generator=generator)
    pyramid = correlation_pyramid(bev, aerial, levels=2)
    cells = torch.arange(6.0)
    coords = torch.stack(torch.meshgrid(cells, cells, indexing="xy"))[None].expand(2, -1, -1, -1)
    values = lookup(pyramid, coords, radius=1)  # (2, 2 * 9, 6, 6)
    direct = (bev * aerial).sum(1) / math.sqrt(8)
    assert torch.allclose(values[:, 4], direct, atol=1e-5)  # the window's centre at level 0
    right = (bev[..., :5] * aerial[..., 1:]).sum(1) / math.sqrt(8)  # one cell to the right (x + 1)
    assert torch.allclose(values[:, 5, :, :5], right, atol=1e-5)


def test_convex_upsampling_keeps_a_constant_field():
    values = torch.full((1, 2, 4, 4), 3.0)
    mask = torch.randn(1, 9 * 16, 4, 4)
    fine = convex_upsample(values, mask, 4)
    assert fine.shape == (1, 2, 16, 16)
    assert torch.allclose(fine[..., 4:12, 4:12], torch.tensor(3.0))  # away from the zero-padded border


def rigid_flow(frame: TileFrame, truth: PlanarPose) -> torch.Tensor:
    motion = truth_in_tile(frame, truth)
    source = tile_pixels(frame.size)
    return (motion.apply(source[None])[0] - source).T.reshape(1, 2, frame.size, frame.size)


def test_the_true_flow_gives_the_true_pose_and_confidence_keeps_wrong_flow_out():
    frame = TileFrame(PlanarPose(50, 40, 20), 64, 0.5)
    truth = PlanarPose(53, 36.5, 27)
    flow = rigid_flow(frame, truth)
    valid = torch.zeros(1, 1, 64, 64)
    valid[..., 10:60, 34:] = 1  # the view ahead of the camera
    exact = FlowEstimate(flow * valid, torch.full_like(valid, 0.7) * valid, valid)
    position, angle = camera_in_tile(pose_from_flow(exact), 64)
    pose = frame.pose_on_aerial(float(position[0, 0]), float(position[0, 1]), float(angle[0]))
    errors = pose.errors_to(truth)
    assert errors["distance_m"] < 1e-3 and errors["yaw_deg"] < 1e-3

    wrong = flow.clone()
    wrong[..., 10:30, 34:50] += 15.0  # a patch of flow 15 px off, with low confidence
    confidence = torch.full_like(valid, 0.9)
    confidence[..., 10:30, 34:50] = 0.01
    estimate = FlowEstimate(wrong * valid, confidence * valid, valid)
    for weighted, bound in ((True, 0.2), (False, 1.0)):
        position, angle = camera_in_tile(pose_from_flow(estimate, weighted), 64)
        pose = frame.pose_on_aerial(float(position[0, 0]), float(position[0, 1]), float(angle[0]))
        distance = pose.errors_to(truth)["distance_m"]
        assert (distance < bound) if weighted else (distance > bound)


def test_the_network_gives_a_flow_and_confidence_per_tile_pixel_and_iteration():
    torch.manual_seed(0)
    net = DenseFlowNetwork(TINY)
    camera = GroundCamera("SIMPLE_PINHOLE", 96, 32, (48.0, 48.0, 16.0))
    grid, valid = ground_plane_sampling(camera, 1.65, TINY)
    output = net(
        torch.rand(2, 3, 32, 96) * 255,
        torch.rand(2, 3, 32, 32) * 255,
        torch.from_numpy(grid)[None].expand(2, -1, -1, -1),
        torch.from_numpy(valid[None, None].astype(np.float32)).expand(2, -1, -1, -1),
    )
    assert len(output.estimates) == TINY.iterations and output.correlation.shape == (2, 8, 8, 8, 8)
    last = output.estimates[-1]
    assert last.flow.shape == (2, 2, 32, 32) and last.confidence.shape == (2, 1, 32, 32)
    off_view = last.valid == 0
    assert off_view.any() and (last.flow * off_view).abs().max() == 0
    assert ((last.confidence >= 0) & (last.confidence <= 1)).all()


@pytest.mark.parametrize("change", [{"stride": 3}, {"tile_size": 50}, {"channels": 60}, {"levels": 7}])
def test_a_conf_the_network_cannot_be_built_from_is_one_line(change):
    with pytest.raises(ConfigError, match="crossview model"):
        DenseFlowNetwork(replace(CrossviewConf(), **change))


def test_a_camera_that_sees_no_ground_is_refused():
    looking_up = GroundCamera("SIMPLE_PINHOLE", 96, 32, (48.0, 48.0, -400.0))  # the horizon far below the image
    with pytest.raises(InputError, match="sees none of the tile's ground"):
        prepare_input(
            np.zeros((32, 96, 3), np.uint8),
            looking_up,
            1.65,
            np.zeros((64, 64, 3), np.uint8),
            1.0,
            PlanarPose(32, 32, 0),
            TINY,
            "view.png",
        )
