"""Batched rigid transformations (cam_from_world, COLMAP convention) with Jacobians.

Pose updates are LEFT-multiplicative: T' = exp(delta) * T, with delta = (omega, v) in R^6,
rotation first (omega, axis-angle in rad) then translation (v, in world-to-camera units).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def skew(v: torch.Tensor) -> torch.Tensor:
    """Cross-product matrices [v]_x (..., 3, 3) of vectors (..., 3)."""
    zero = torch.zeros_like(v[..., 0])
    x, y, z = v.unbind(-1)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(v.shape[:-1] + (3, 3))


def _exp_coefficients(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """sin(t)/t, (1-cos(t))/t^2, (t-sin(t))/t^3, with Taylor series near t = 0."""
    small = theta < 1e-3 if theta.dtype == torch.float64 else theta < 3e-2
    t = torch.where(small, torch.ones_like(theta), theta)  # avoid 0/0 in the unused branch
    t2 = theta * theta
    a = torch.where(small, 1 - t2 / 6 + t2 * t2 / 120, torch.sin(t) / t)
    b = torch.where(small, 0.5 - t2 / 24 + t2 * t2 / 720, (1 - torch.cos(t)) / (t * t))
    c = torch.where(small, 1 / 6 - t2 / 120 + t2 * t2 / 5040, (t - torch.sin(t)) / (t * t * t))
    return a, b, c


class Pose:
    """Rigid transform p_cam = R @ p_world + t, batched over leading dimensions."""

    def __init__(self, R: torch.Tensor, t: torch.Tensor):
        if R.shape[-2:] != (3, 3) or t.shape[-1] != 3 or R.shape[:-2] != t.shape[:-1]:
            raise ValueError(f"Bad pose shapes R {tuple(R.shape)}, t {tuple(t.shape)}")
        self.R = R
        self.t = t

    # ----- construction and conversion
    @classmethod
    def from_Rt(cls, R: torch.Tensor, t: torch.Tensor) -> Pose:
        return cls(R, t)

    @classmethod
    def identity(cls, batch_shape: tuple[int, ...] = (), dtype=torch.float64, device=None) -> Pose:
        R = torch.eye(3, dtype=dtype, device=device).expand(*batch_shape, 3, 3).clone()
        return cls(R, torch.zeros(*batch_shape, 3, dtype=dtype, device=device))

    @classmethod
    def from_pycolmap(cls, rigid3d, dtype=torch.float64, device=None) -> Pose:
        """From a pycolmap.Rigid3d (single pose)."""
        R = torch.as_tensor(np.asarray(rigid3d.rotation.matrix()), dtype=dtype, device=device)
        t = torch.as_tensor(np.asarray(rigid3d.translation), dtype=dtype, device=device)
        return cls(R, t)

    def to_pycolmap(self):
        """To a pycolmap.Rigid3d; only for an unbatched pose."""
        import pycolmap

        if self.R.dim() != 2:
            raise ValueError("to_pycolmap needs an unbatched pose")
        R = self.R.detach().cpu().double().numpy()
        t = self.t.detach().cpu().double().numpy()
        return pycolmap.Rigid3d(pycolmap.Rotation3d(R), t)

    @property
    def shape(self) -> torch.Size:
        return self.t.shape[:-1]

    @property
    def dtype(self) -> torch.dtype:
        return self.t.dtype

    @property
    def device(self) -> torch.device:
        return self.t.device

    def __getitem__(self, index) -> Pose:
        return Pose(self.R[index], self.t[index])

    def __repr__(self) -> str:
        return f"Pose(shape={tuple(self.shape)}, dtype={self.dtype})"

    # ----- group operations
    def inverse(self) -> Pose:
        R_inv = self.R.transpose(-1, -2)
        return Pose(R_inv, -(R_inv @ self.t.unsqueeze(-1)).squeeze(-1))

    def compose(self, other: Pose) -> Pose:
        """self @ other: apply other first, then self."""
        R = self.R @ other.R
        t = (self.R @ other.t.unsqueeze(-1)).squeeze(-1) + self.t
        return Pose(R, t)

    def __matmul__(self, other: Pose) -> Pose:
        return self.compose(other)

    def transform(self, points: torch.Tensor) -> torch.Tensor:
        """Points (..., N, 3) -> R p + t (..., N, 3)."""
        return points @ self.R.transpose(-1, -2) + self.t.unsqueeze(-2)

    @staticmethod
    def J_transform(points_transformed: torch.Tensor) -> torch.Tensor:
        """d p' / d delta (..., N, 3, 6) at delta = 0 for p' = exp(delta) T p, given p' = T p.

        Columns 0-2 are the rotation omega ([-p']_x), columns 3-5 the translation v (I).
        """
        eye = torch.eye(3, dtype=points_transformed.dtype, device=points_transformed.device)
        eye = eye.expand(points_transformed.shape[:-1] + (3, 3))
        return torch.cat([-skew(points_transformed), eye], dim=-1)

    # ----- Lie algebra
    @staticmethod
    def exp(delta: torch.Tensor) -> Pose:
        """SE(3) exponential of delta (..., 6) = (omega, v); Rodrigues with Taylor near 0."""
        omega, v = delta[..., :3], delta[..., 3:]
        theta = torch.linalg.norm(omega, dim=-1)[..., None, None]
        a, b, c = _exp_coefficients(theta)
        W = skew(omega)
        W2 = W @ W
        eye = torch.eye(3, dtype=delta.dtype, device=delta.device)
        R = eye + a * W + b * W2
        V = eye + b * W + c * W2
        return Pose(R, (V @ v.unsqueeze(-1)).squeeze(-1))

    def left_update(self, delta: torch.Tensor) -> Pose:
        """exp(delta) * self."""
        return Pose.exp(delta).compose(self)

    def magnitude(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(rotation angle in degrees, translation norm)."""
        trace = self.R.diagonal(dim1=-1, dim2=-2).sum(-1)
        cos = ((trace - 1) / 2).clamp(-1.0, 1.0)
        # acos is imprecise near 0: use atan2(|sin|, cos) with |sin| from the skew part.
        axis = torch.stack(
            [
                self.R[..., 2, 1] - self.R[..., 1, 2],
                self.R[..., 0, 2] - self.R[..., 2, 0],
                self.R[..., 1, 0] - self.R[..., 0, 1],
            ],
            dim=-1,
        )
        sin = torch.linalg.norm(axis, dim=-1) / 2
        angle = torch.atan2(sin, cos) * (180.0 / math.pi)
        return angle, torch.linalg.norm(self.t, dim=-1)
