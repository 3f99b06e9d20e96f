"""Planar rigid motions (rotation + translation in the ground plane) and their weighted least-squares fit to point
correspondences (2D Procrustes), differentiable in torch: DenseFlow's pose from a confidence-weighted flow field."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Rigid2D(NamedTuple):
    """target = R(angle) source + translation, batched: angle (B,) radians, translation (B, 2)."""

    angle: torch.Tensor
    translation: torch.Tensor

    def rotation(self) -> torch.Tensor:
        """(B, 2, 2) rotation matrices."""
        cos, sin = torch.cos(self.angle), torch.sin(self.angle)
        return torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)

    def apply(self, points: torch.Tensor) -> torch.Tensor:
        """Points (B, N, 2) moved by the motion."""
        return points @ self.rotation().transpose(-1, -2) + self.translation[:, None]


def fit_rigid_2d(source: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> Rigid2D:
    """The rigid motion minimising sum_i w_i |R source_i + t - target_i|^2 for (B, N, 2) points and (B, N) weights
    (all 1 if None): weighted centroids, then the angle of the weighted cross-covariance."""
    if weights is None:
        weights = torch.ones(source.shape[:2], dtype=source.dtype, device=source.device)
    weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=torch.finfo(source.dtype).tiny)
    source_mean = (weights[..., None] * source).sum(1)
    target_mean = (weights[..., None] * target).sum(1)
    a, b = source - source_mean[:, None], target - target_mean[:, None]
    dot = (weights * (a * b).sum(-1)).sum(1)  # sum w (a . b)
    cross = (weights * (a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0])).sum(1)  # sum w (a x b)
    angle = torch.atan2(cross, dot)
    rotated_mean = Rigid2D(angle, torch.zeros_like(source_mean)).apply(source_mean[:, None])[:, 0]
    return Rigid2D(angle, target_mean - rotated_mean)
