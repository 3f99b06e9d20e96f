"""GN-Net training losses (von Stumberg et al.): double-margin contrastive with hard negatives, and Gauss-Newton.

Per pyramid level, correspondences are taken to level coordinates (COLMAP pixel / stride), in which cell (i, j)
is centred at (j + 0.5, i + 0.5) and distances are in cells; maps are sampled with vloc.dense.interpolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vloc.dense.base import DenseLevel
from vloc.dense.interpolation import sample_features, sample_values
from vloc.errors import ConfigError


@dataclass(frozen=True)
class GNNetLossConf:
    positive_margin: float = 0.1  # m_pos: positives are pulled below this feature distance
    negative_margin: float = 1.0  # m_neg: negatives are pushed beyond it
    # No negative within 2 cells of the true match: the Gauss-Newton step starts up to 1 cell away and its central
    # differences read 1 cell further, so that neighbourhood must stay smooth, not be pushed apart.
    negative_radius: float = 2.0
    start_radius: float = 1.0  # the Gauss-Newton step starts uniformly within this many cells (per axis) of the match
    error_weight: float = 1.0  # lambda1, on 1/2 (u* - mu)^T H (u* - mu)
    logdet_weight: float = 2 / 7  # lambda2, on log(2 pi) - 1/2 log det H
    gn_weight: float = 0.5  # weight of the Gauss-Newton loss against the contrastive loss
    # H = J^T J + damping I: keeps H invertible on textureless cells and caps their -1/2 log det H at 6.9; it is far
    # below J^T J where L2-normalised features have texture (eigenvalues ~0.01-1 per cell^2).
    damping: float = 1e-3

    def __post_init__(self):
        if not 0 <= self.positive_margin < self.negative_margin:
            raise ConfigError(
                f"GN-Net loss margins need 0 <= positive_margin < negative_margin, got "
                f"{self.positive_margin} and {self.negative_margin}"
            )
        if min(self.negative_radius, self.start_radius, self.damping) < 0:
            raise ConfigError("GN-Net loss negative_radius, start_radius and damping must not be negative")


def hard_negative_count(step: int, total_steps: int, start: int, end: int) -> int:
    """Number M of hardest negatives to draw from at `step`: geometric from `start` (>= 1) at 0 to `end` (>= 1)
    from total_steps on."""
    progress = min(max(step / max(total_steps, 1), 0.0), 1.0)
    return max(round(start * (end / start) ** progress), 1)


def feature_distances(features: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """Euclidean distances (N,) between rows of (N, C) tensors; the clamp keeps the gradient finite at 0."""
    return ((features - others) ** 2).sum(-1).clamp_min(1e-12).sqrt()


def mine_hard_negatives(
    anchors: torch.Tensor,
    target_map: torch.Tensor,
    targets: torch.Tensor,
    num_negatives: int,
    radius: float,
    generator: torch.Generator | None = None,
    chunk_size: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per anchor (N, C), a cell of target_map (C, H, W) drawn among its num_negatives (>= 1) nearest in feature space
    that lie at least radius cells from the true match targets (N, 2); flat cell indices (N,) and found (N,)."""
    C, H, W = target_map.shape
    rows, cols = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    centres = torch.stack([cols, rows], -1).reshape(-1, 2).to(targets) + 0.5
    cells = target_map.detach().reshape(C, -1).T
    k = min(num_negatives, H * W)
    indices, found = [], []
    with torch.no_grad():  # only (chunk_size, H W) distances at a time
        for chunk in torch.arange(len(anchors), device=anchors.device).split(chunk_size):
            distances = torch.cdist(anchors[chunk].detach(), cells)
            distances = distances.masked_fill(torch.cdist(targets[chunk], centres) < radius, math.inf)
            hardest, candidates = distances.topk(k, dim=1, largest=False)  # ascending: the excluded (inf) come last
            count = torch.isfinite(hardest).sum(1)
            draw = torch.rand(len(chunk), generator=generator, device=anchors.device, dtype=distances.dtype)
            pick = (draw * count).long().clamp(max=k - 1)
            indices.append(candidates.gather(1, pick[:, None]).squeeze(1))
            found.append(count > 0)
    return torch.cat(indices), torch.cat(found)


def contrastive_loss(
    positive_distances: torch.Tensor, negative_distances: torch.Tensor, conf: GNNetLossConf
) -> tuple[torch.Tensor, torch.Tensor]:
    """Means of max(0, d_pos - m_pos)^2 over the positives and of max(0, m_neg - d_neg)^2 over the negatives."""
    positive = (positive_distances - conf.positive_margin).clamp_min(0) ** 2
    negative = (conf.negative_margin - negative_distances).clamp_min(0) ** 2
    return _mean(positive), _mean(negative)


def random_starts(
    targets: torch.Tensor, size: tuple[int, int], radius: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Points uniform within radius cells (per axis) of targets (N, 2), clamped onto the cell centres of an (H, W) map.

    Clamping moves a start towards a target that is on the map, so it stays within radius and is always valid.
    """
    H, W = size
    offsets = torch.rand(targets.shape, generator=generator, device=targets.device, dtype=targets.dtype) * 2 - 1
    upper = torch.tensor([W - 0.5, H - 0.5], device=targets.device, dtype=targets.dtype)
    return torch.minimum((targets + radius * offsets).clamp_min(0.5), upper)


def gauss_newton_step(
    anchors: torch.Tensor, target_map: torch.Tensor, starts: torch.Tensor, damping: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step on r(u) = F_target(u) - anchor from starts (N, 2): mu = u0 - H^-1 J^T r, H = J^T J + damping I.

    Returns mu (N, 2), H (N, 2, 2) and whether each start is on the map (N,); J is by central differences.
    """
    features, valid, jacobians = sample_features(target_map, starts)  # stride 1: starts are in level coordinates
    residuals = features - anchors
    transposed = jacobians.transpose(1, 2)
    hessians = transposed @ jacobians + damping * torch.eye(2, dtype=jacobians.dtype, device=jacobians.device)
    means = starts - torch.linalg.solve(hessians, transposed @ residuals[..., None]).squeeze(-1)
    return means, hessians, valid


def gauss_newton_nll(
    means: torch.Tensor, hessians: torch.Tensor, targets: torch.Tensor, conf: GNNetLossConf
) -> torch.Tensor:
    """Per correspondence (N,), the weighted negative log-likelihood of targets (N, 2) under N(mu, H^-1):
    lambda1 * 1/2 (u* - mu)^T H (u* - mu) + lambda2 * (log(2 pi) - 1/2 log det H)."""
    errors = (targets - means)[..., None]
    mahalanobis = 0.5 * (errors.transpose(1, 2) @ hessians @ errors).reshape(-1)
    normaliser = math.log(2 * math.pi) - 0.5 * torch.logdet(hessians)
    return conf.error_weight * mahalanobis + conf.logdet_weight * normaliser


def level_losses(
    source: DenseLevel,
    target: DenseLevel,
    pixels_source: torch.Tensor,
    pixels_target: torch.Tensor,
    conf: GNNetLossConf,
    num_negatives: int,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Mean positive, negative and Gauss-Newton losses on one level, for correspondences in COLMAP pixels (N, 2).

    Correspondences with either end outside the cell centres of its map are dropped; generator draws the
    negatives among the num_negatives hardest and the Gauss-Newton starts.
    """
    points_source = pixels_source / torch.as_tensor(source.stride).to(pixels_source)
    points_target = pixels_target / torch.as_tensor(target.stride).to(pixels_target)
    anchors, valid_source = sample_values(source.features, points_source)
    positives, valid_target = sample_values(target.features, points_target)
    valid = valid_source & valid_target
    anchors, positives, points_target = anchors[valid], positives[valid], points_target[valid]

    negative_cells, found = mine_hard_negatives(
        anchors, target.features, points_target, num_negatives, conf.negative_radius, generator
    )
    negatives = target.features.flatten(1)[:, negative_cells[found]].T
    positive, negative = contrastive_loss(
        feature_distances(anchors, positives), feature_distances(anchors[found], negatives), conf
    )

    starts = random_starts(points_target, target.features.shape[1:], conf.start_radius, generator)
    means, hessians, _ = gauss_newton_step(anchors, target.features, starts, conf.damping)
    gauss_newton = _mean(gauss_newton_nll(means, hessians, points_target, conf))
    return {"positive": positive, "negative": negative, "gauss_newton": gauss_newton}


def gnnet_loss(
    sources: list[DenseLevel],
    targets: list[DenseLevel],
    pixels_source: torch.Tensor,
    pixels_target: torch.Tensor,
    conf: GNNetLossConf,
    num_negatives: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum over levels of contrastive + gn_weight * Gauss-Newton, and a log of the terms per level and summed."""
    level_totals = []
    log: dict[str, float] = {"contrastive": 0.0, "gauss_newton": 0.0}
    for k, (source, target) in enumerate(zip(sources, targets, strict=True)):
        terms = level_losses(source, target, pixels_source, pixels_target, conf, num_negatives, generator)
        level_totals.append(terms["positive"] + terms["negative"] + conf.gn_weight * terms["gauss_newton"])
        values = {name: value.item() for name, value in terms.items()}
        log.update({f"level{k}/{name}": value for name, value in values.items()})
        log["contrastive"] += values["positive"] + values["negative"]
        log["gauss_newton"] += values["gauss_newton"]
    total = torch.stack(level_totals).sum()
    log["total"] = total.item()
    return total, log


def _mean(values: torch.Tensor) -> torch.Tensor:
    """Mean that is 0 (and still part of the graph) when values is empty."""
    return values.sum() / max(values.numel(), 1)
