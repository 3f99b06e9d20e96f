"""Weighted planar Procrustes (DenseFlow's pose from flow): exact from exact flow, confidence weighting beats the plain
fit when some flow is wrong, and gradients reach the confidences."""

from __future__ import annotations

import math

import torch

from vloc.geometry.rigid2d import Rigid2D, fit_rigid_2d


def flow_scene(seed: int = 0, batch: int = 3, points: int = 400) -> tuple[torch.Tensor, torch.Tensor, Rigid2D]:
    """Bird's-eye-view cell positions (metres, a 40 m square), where the true motion sends them, and the motion."""
    generator = torch.Generator().manual_seed(seed)
    source = (torch.rand(batch, points, 2, generator=generator, dtype=torch.float64) - 0.5) * 40
    truth = Rigid2D(
        torch.deg2rad(torch.rand(batch, generator=generator, dtype=torch.float64) * 20 - 10),
        (torch.rand(batch, 2, generator=generator, dtype=torch.float64) - 0.5) * 40,
    )
    return source, truth.apply(source), truth


def errors(estimate: Rigid2D, truth: Rigid2D) -> tuple[torch.Tensor, torch.Tensor]:
    """Angle error (degrees) and translation error (metres) per batch element."""
    angle = torch.rad2deg(torch.remainder(estimate.angle - truth.angle + math.pi, 2 * math.pi) - math.pi).abs()
    return angle, torch.linalg.norm(estimate.translation - truth.translation, dim=-1)


def test_exact_flow_gives_the_exact_motion():
    source, target, truth = flow_scene()
    angle, translation = errors(fit_rigid_2d(source, target), truth)
    assert angle.max() < 1e-9 and translation.max() < 1e-9
    weights = torch.rand(source.shape[:2], dtype=torch.float64)  # any positive weights, exact flow: still exact
    angle, translation = errors(fit_rigid_2d(source, target, weights), truth)
    assert angle.max() < 1e-9 and translation.max() < 1e-9


def test_confidence_weighting_beats_the_plain_fit_on_outlier_flow():
    source, target, truth = flow_scene(seed=1)
    generator = torch.Generator().manual_seed(2)
    wrong = torch.rand(source.shape[:2], generator=generator) < 0.3
    target = torch.where(wrong[..., None], target + torch.randn(target.shape, generator=generator) * 15, target)
    confidence = torch.where(wrong, 0.001, 1.0).double()
    plain_angle, plain_translation = errors(fit_rigid_2d(source, target), truth)
    weighted_angle, weighted_translation = errors(fit_rigid_2d(source, target, confidence), truth)
    assert (weighted_angle < 0.05).all() and (weighted_translation < 0.05).all()
    assert (weighted_angle * 10 < plain_angle).all() and (weighted_translation * 10 < plain_translation).all()


def test_gradients_reach_the_confidences():
    source, target, truth = flow_scene(seed=3, batch=1)
    target = target + torch.randn(target.shape, dtype=torch.float64) * 0.5
    confidence = torch.ones(source.shape[:2], dtype=torch.float64, requires_grad=True)
    estimate = fit_rigid_2d(source, target, confidence)
    loss = (estimate.translation - truth.translation).square().sum() + (estimate.angle - truth.angle).square().sum()
    loss.backward()
    assert confidence.grad is not None and confidence.grad.abs().sum() > 0
