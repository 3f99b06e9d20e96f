"""Losses of scene coordinate regression (DSAC*'s initialisation loss with CrossLoc's maximum-likelihood uncertainty)
and of its helper tasks, depth and surface normals."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vloc.models.scr import cell_centres, normal_angles


@dataclass(frozen=True)
class CoordinateLossConf:
    init_tolerance: float = 0.1  # m: a cell with ground truth gets the reprojection term only within this 3D error
    soft_clamp: float = 100.0  # px: reprojection errors above it count as sqrt(soft_clamp * error)
    hard_clamp: float = 1000.0  # px: and above this not at all
    min_depth: float = 0.1  # m: nor in front of this depth
    uncertainty: bool = True  # maximum-likelihood 3D term 3 log s + e^2 / (2 s^2), else the plain 3D error


def coordinate_loss(
    predicted: torch.Tensor,
    uncertainty: torch.Tensor,
    truth: torch.Tensor,
    cam_from_world: torch.Tensor,
    K: torch.Tensor,
    conf: CoordinateLossConf = CoordinateLossConf(),
) -> torch.Tensor:
    """Mean over cells of the 3D term (cells with ground truth; NaN marks none) plus the clamped reprojection error
    (cells in front of the camera, below the hard clamp, and within the 3D tolerance where ground truth exists).

    predicted, truth: (B, 3, h, w) world points; uncertainty (B, 1, h, w); cam_from_world (B, 3, 4); K (B, 3, 3).
    """
    batch, _, height, width = predicted.shape
    rotation, translation = cam_from_world[:, :, :3], cam_from_world[:, :, 3:]
    camera = rotation @ predicted.flatten(2) + translation  # (B, 3, hw)
    has_truth = torch.isfinite(truth).all(dim=1).flatten(1)
    camera_truth = rotation @ torch.nan_to_num(truth).flatten(2) + translation
    error_3d = torch.linalg.norm(camera - camera_truth, dim=1)
    depth = camera[:, 2]
    projected = K @ (camera / depth.clamp(min=conf.min_depth).unsqueeze(1))
    pixels = cell_centres(height, width).to(predicted).flatten(1)
    reprojection = torch.linalg.norm(projected[:, :2] - pixels, dim=1)
    valid = (depth >= conf.min_depth) & (reprojection <= conf.hard_clamp)
    valid &= ~has_truth | (error_3d <= conf.init_tolerance)
    soft = torch.where(
        reprojection <= conf.soft_clamp, reprojection, torch.sqrt(conf.soft_clamp * reprojection.clamp(min=1e-12))
    )
    if conf.uncertainty:
        sigma = uncertainty.flatten(1)
        term_3d = 3 * torch.log(sigma) + error_3d**2 / (2 * sigma**2)
    else:
        term_3d = error_3d
    total = torch.where(has_truth, term_3d, 0.0) + torch.where(valid, soft, 0.0)
    return total.sum() / (batch * height * width)


def depth_loss(
    predicted: torch.Tensor, uncertainty: torch.Tensor, truth: torch.Tensor, use_uncertainty: bool = True
) -> torch.Tensor:
    """Mean over cells with a ground-truth depth (finite) of |d - d*|, or log s + e^2 / (2 s^2)."""
    known = torch.isfinite(truth)
    error = (predicted - torch.nan_to_num(truth)).abs()[known]
    if use_uncertainty:
        sigma = uncertainty[known]
        return (torch.log(sigma) + error**2 / (2 * sigma**2)).mean()
    return error.mean()


def normal_angle_error(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """2 min(|d azimuth|, 2 pi - |d azimuth|) + |d elevation| between predicted (azimuth, elevation) logits (B, 2, h,
    w) and true angles in radians."""
    difference = (normal_angles(logits) - truth).abs()
    azimuth = torch.minimum(difference[:, 0], 2 * math.pi - difference[:, 0])
    return 2 * azimuth + difference[:, 1]


def normal_loss(
    logits: torch.Tensor, uncertainty: torch.Tensor, truth: torch.Tensor, use_uncertainty: bool = True
) -> torch.Tensor:
    """Mean over cells with ground-truth normals of the angle error, or 2 log s + e^2 / (2 s^2)."""
    known = torch.isfinite(truth).all(dim=1)
    error = normal_angle_error(logits, torch.nan_to_num(truth))[known]
    if use_uncertainty:
        sigma = uncertainty[:, 0][known]
        return (2 * torch.log(sigma) + error**2 / (2 * sigma**2)).mean()
    return error.mean()
