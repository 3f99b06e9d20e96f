"""Coarse-to-fine feature-metric PnP: Levenberg-Marquardt on each pyramid level of the query, coarse to fine."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from vloc.dense.base import DenseLevel
from vloc.errors import ConfigError
from vloc.featuremetric.optimizer import LevenbergMarquardt, LMConf
from vloc.geometry.camera import Camera
from vloc.geometry.pose import Pose


@dataclass(frozen=True)
class FeatureMetricConf:
    levels: tuple[int, ...] | None = None  # pyramid levels to optimise on, coarse to fine (None: all)
    # Huber at 0.1 (residual units): on templeRing from ground truth, 0.4 ends 2-3 mm away, 0.1 at 0.46 mm (= PnP).
    optimizer: LMConf = field(default_factory=lambda: LMConf(max_iterations=30, loss_scale=0.1))
    max_points: int = 3000  # random subset (fixed seed) of the visible points, for speed
    min_points: int = 20  # fewer visible points: no refinement, a logged failure
    seed: int = 0

    def __post_init__(self):
        if self.levels is not None and not self.levels:
            raise ConfigError("feature-metric refinement needs at least one pyramid level (levels is empty)")


class FeatureMetricRefiner:
    """Refine a cam_from_world pose so that the query's dense features at the projected points match the references."""

    def __init__(self, conf: FeatureMetricConf):
        self.conf = conf
        self.optimizer = LevenbergMarquardt(conf.optimizer)

    def select_points(
        self, pose: Pose, camera: Camera, points3D: torch.Tensor, references: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Points in front of the camera and inside the image at the initial pose, subsampled to max_points."""
        _, visible = camera.project(pose.transform(points3D))
        index = torch.nonzero(visible).squeeze(1)
        if len(index) > self.conf.max_points:
            generator = torch.Generator().manual_seed(self.conf.seed)
            index = index[torch.randperm(len(index), generator=generator)[: self.conf.max_points]]
        return points3D[index], [f[index] for f in references]

    def cost(
        self, pose: Pose, camera: Camera, points3D: torch.Tensor, reference: torch.Tensor, level: DenseLevel
    ) -> tuple[float, int]:
        """Robust cost and number of feature inliers (residual norm below the loss scale) on one level."""
        residuals, valid, _, _ = self.optimizer.residuals(
            pose, points3D, reference.to(points3D.dtype), level.features, camera, level.stride, with_jacobians=False
        )
        cost, _ = self.optimizer.robust_cost(residuals, valid)
        inliers = (residuals.norm(dim=1) < self.conf.optimizer.loss_scale) & valid
        return float(cost), int(inliers.sum())

    def refine(
        self,
        pose: Pose,
        camera: Camera,
        points3D: torch.Tensor,
        references: list[torch.Tensor],
        pyramid: list[DenseLevel],
    ) -> tuple[Pose, torch.Tensor, dict]:
        """Refined pose, its covariance (6, 6, left update; inf where it was not refined) and a log: costs and feature
        inliers before and after, per-level iterations, acceptance."""
        levels = self.conf.levels if self.conf.levels is not None else tuple(range(len(pyramid)))
        if not all(-len(pyramid) <= k < len(pyramid) for k in levels) or len(references) != len(pyramid):
            raise ConfigError(f"refinement levels {levels} do not fit a pyramid of {len(pyramid)} levels")
        points3D, references = self.select_points(pose, camera, points3D, references)
        log: dict = {"num_points": len(points3D)}
        unknown = torch.full((6, 6), torch.inf, dtype=points3D.dtype)
        if len(points3D) < self.conf.min_points:
            log.update(accepted=False, failure_reason=f"only {len(points3D)} model points visible in the query")
            return pose, unknown, log
        finest = levels[-1]
        fine_level = pyramid[finest]
        log["cost_before"], log["feature_inliers_before"] = self.cost(
            pose, camera, points3D, references[finest], fine_level
        )
        initial, log["iterations"] = pose, []
        for k in levels:
            level = pyramid[k]
            pose, info = self.optimizer.run(pose, points3D, references[k], level.features, camera, level.stride)
            log["iterations"].append(info["iterations"])
        log["cost_after"], log["feature_inliers_after"] = self.cost(
            pose, camera, points3D, references[finest], fine_level
        )
        log["accepted"] = log["cost_after"] <= log["cost_before"]
        if not log["accepted"]:
            log["failure_reason"] = "refinement raised the cost; initial pose kept"
            return initial, unknown, log
        covariance = self.optimizer.covariance(
            pose, points3D, references[finest], fine_level.features, camera, fine_level.stride
        )
        return pose, covariance, log
