"""Robust cost functions rho(s) on SQUARED residual norms s = ||r||^2.

Each returns (cost rho(s), weight rho'(s) = d rho / d s). As in pixloc, the weight is the
IRLS weight: the Gauss-Newton system of sum rho(||r||^2) is J^T W J delta = -J^T W r with
W = rho'(s). All are normalised so that rho(s) ~ s and rho'(s) ~ 1 for small s; the scale a
is in residual units (Huber: quadratic while ||r|| <= a, i.e. s <= a^2).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vloc.errors import ConfigError

RobustLoss = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def squared(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """rho(s) = s (no robustness)."""
    return s, torch.ones_like(s)


def huber(s: torch.Tensor, scale: float = 0.4) -> tuple[torch.Tensor, torch.Tensor]:
    """rho(s) = s if s <= a^2 else 2 a sqrt(s) - a^2."""
    a2 = scale * scale
    inlier = s <= a2
    sqrt_s = torch.sqrt(torch.where(inlier, torch.full_like(s, a2), s))
    cost = torch.where(inlier, s, 2 * scale * sqrt_s - a2)
    weight = torch.where(inlier, torch.ones_like(s), scale / sqrt_s)
    return cost, weight


def cauchy(s: torch.Tensor, scale: float = 0.4) -> tuple[torch.Tensor, torch.Tensor]:
    """rho(s) = a^2 log(1 + s / a^2)."""
    a2 = scale * scale
    return a2 * torch.log1p(s / a2), 1 / (1 + s / a2)


def barron(s: torch.Tensor, alpha: float = 0.0, scale: float = 0.4) -> tuple[torch.Tensor, torch.Tensor]:
    """Barron's general loss, rho(s) = 2 a^2 |alpha-2|/alpha ((s / (a^2 |alpha-2|) + 1)^(alpha/2) - 1).

    alpha = 2 is squared, alpha = 0 is Cauchy-like (2 a^2 log(1 + s / (2 a^2))), alpha = 1 pseudo-Huber.
    """
    a2 = scale * scale
    if alpha == 2:
        return squared(s)
    if alpha == 0:
        x = s / (2 * a2)
        return 2 * a2 * torch.log1p(x), 1 / (1 + x)
    b = abs(alpha - 2)
    base = s / (a2 * b) + 1
    cost = 2 * a2 * b / alpha * (base ** (alpha / 2) - 1)
    weight = base ** (alpha / 2 - 1)
    return cost, weight


def get_loss(name: str, scale: float, alpha: float = 0.0) -> RobustLoss:
    """Robust loss by name: squared, huber, cauchy, barron."""
    if name == "squared":
        return squared
    if name == "huber":
        return lambda s: huber(s, scale)
    if name == "cauchy":
        return lambda s: cauchy(s, scale)
    if name == "barron":
        return lambda s: barron(s, alpha, scale)
    raise ConfigError(f"Unknown robust loss '{name}', use squared, huber, cauchy or barron.")
