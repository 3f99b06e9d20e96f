"""Random keypoint pairs with exact ground truth for training matchers: 3D points seen by two cameras, their
projections with pixel noise, one descriptor per point perturbed in each view, and keypoints with no partner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from vloc.models.imp import KeypointPair


@dataclass(frozen=True)
class RandomPairsConf:
    num_points: int = 256  # 3D points in front of the first camera (those seen by both become matches)
    num_distractors: int = 64  # keypoints per image with no partner in the other
    descriptor_dim: int = 128
    descriptor_noise: float = 0.4  # std of the noise on a point's unit descriptor in each view, times D^-0.5
    pixel_noise: float = 1.0  # px, standard deviation
    max_rotation_deg: float = 30.0
    baseline: float = 1.0  # camera 1 centre within this distance of camera 0's (points at depth 2 to 8)
    width: int = 640
    height: int = 480
    focal: float = 500.0


class TrainingPair(NamedTuple):
    """A keypoint pair and its ground truth: the partner of each keypoint in the other image (-1: none)."""

    pair: KeypointPair
    matches0: torch.Tensor
    matches1: torch.Tensor


def _unit(vectors: torch.Tensor) -> torch.Tensor:
    return vectors / vectors.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def _rotation(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula."""
    angle = axis_angle.norm()
    k = axis_angle / angle.clamp(min=1e-12)
    skew = torch.tensor([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return torch.eye(3) + torch.sin(angle) * skew + (1 - torch.cos(angle)) * skew @ skew


def random_pair(conf: RandomPairsConf, generator: torch.Generator) -> TrainingPair:
    """One pair, drawn from `generator` (the same generator state gives the same pair)."""

    def uniform(*shape: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=generator)

    size = torch.tensor([conf.width, conf.height], dtype=torch.float32)
    depth = uniform(conf.num_points, low=2.0, high=8.0)
    pixels = uniform(conf.num_points, 2) * size
    points = torch.cat([(pixels - size / 2) / conf.focal * depth[:, None], depth[:, None]], 1)
    axis = _unit(torch.randn(3, generator=generator))
    rotation = _rotation(axis * torch.deg2rad(uniform(1, high=conf.max_rotation_deg)))
    centre = _unit(torch.randn(3, generator=generator)) * uniform(1, high=conf.baseline)
    in_camera1 = (points - centre) @ rotation.T
    pixels1 = in_camera1[:, :2] / in_camera1[:, 2:].clamp(min=1e-6) * conf.focal + size / 2
    visible = (in_camera1[:, 2] > 0.1) & ((pixels1 >= 0) & (pixels1 < size)).all(1)
    seen0, seen1 = pixels[visible], pixels1[visible]
    shared = _unit(torch.randn(len(seen0), conf.descriptor_dim, generator=generator).abs())

    def view(seen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keypoints = torch.cat([seen, uniform(conf.num_distractors, 2) * size])
        keypoints = keypoints + conf.pixel_noise * torch.randn(keypoints.shape, generator=generator)
        noise = torch.randn(len(keypoints), conf.descriptor_dim, generator=generator) / conf.descriptor_dim**0.5
        distractors = _unit(torch.randn(conf.num_distractors, conf.descriptor_dim, generator=generator).abs())
        descriptors = _unit((torch.cat([shared, distractors]) + conf.descriptor_noise * noise).abs())
        return keypoints.clamp(torch.zeros(2), size - 1e-3), descriptors

    (keypoints0, descriptors0), (keypoints1, descriptors1) = view(seen0), view(seen1)
    order0 = torch.randperm(len(keypoints0), generator=generator)
    order1 = torch.randperm(len(keypoints1), generator=generator)
    partner = torch.full((len(keypoints0),), -1)
    partner[: len(seen0)] = torch.arange(len(seen0))  # before shuffling: point i is keypoint i in both images
    position1 = torch.empty_like(order1)
    position1[order1] = torch.arange(len(order1))
    matches0 = torch.where(partner[order0] >= 0, position1[partner[order0].clamp(min=0)], -1)
    matches1 = torch.full((len(keypoints1),), -1)
    matches1[matches0[matches0 >= 0]] = torch.nonzero(matches0 >= 0)[:, 0]
    scores0, scores1 = uniform(len(keypoints0), low=0.5), uniform(len(keypoints1), low=0.5)
    pair = KeypointPair(
        keypoints0[order0], scores0, descriptors0[order0], size, keypoints1[order1], scores1, descriptors1[order1], size
    )
    return TrainingPair(pair, matches0, matches1)
