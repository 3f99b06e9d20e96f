"""Batched pinhole camera with COLMAP pixel convention (pixel centres at +0.5).

A 3D point (x, y, z) in the camera frame projects to u = fx x / z + cx, v = fy y / z + cy;
the image covers [0, w] x [0, h] and pixel (col j, row i) is centred at (j + 0.5, i + 0.5).
"""

from __future__ import annotations

import torch

from vloc.errors import ConfigError


class Camera:
    """Pinhole intrinsics (..., 4) = (fx, fy, cx, cy) and image size (..., 2) = (w, h)."""

    eps = 1e-4  # minimum depth of a valid projection

    def __init__(self, intrinsics: torch.Tensor, size: torch.Tensor):
        if intrinsics.shape[-1] != 4 or size.shape[-1] != 2:
            raise ValueError(f"Bad camera shapes {tuple(intrinsics.shape)}, {tuple(size.shape)}")
        self.intrinsics = intrinsics
        self.size = size.to(intrinsics)

    @classmethod
    def from_pycolmap(cls, camera, dtype=torch.float64, device=None) -> "Camera":
        """From a pycolmap.Camera of model SIMPLE_PINHOLE or PINHOLE."""
        model = camera.model.name
        params = [float(p) for p in camera.params]
        if model == "SIMPLE_PINHOLE":
            f, cx, cy = params
            params = [f, f, cx, cy]
        elif model != "PINHOLE":
            raise ConfigError(f"Camera model {model} is not supported, use SIMPLE_PINHOLE or PINHOLE.")
        intrinsics = torch.tensor(params, dtype=dtype, device=device)
        size = torch.tensor([camera.width, camera.height], dtype=dtype, device=device)
        return cls(intrinsics, size)

    def to_pycolmap(self):
        """To a PINHOLE pycolmap.Camera; only for an unbatched camera."""
        import pycolmap

        if self.intrinsics.dim() != 1:
            raise ValueError("to_pycolmap needs an unbatched camera")
        w, h = (int(round(float(s))) for s in self.size)
        params = [float(p) for p in self.intrinsics]
        return pycolmap.Camera(model="PINHOLE", width=w, height=h, params=params)

    @property
    def f(self) -> torch.Tensor:
        return self.intrinsics[..., :2]

    @property
    def c(self) -> torch.Tensor:
        return self.intrinsics[..., 2:]

    def __getitem__(self, index) -> "Camera":
        return Camera(self.intrinsics[index], self.size[index])

    def __repr__(self) -> str:
        return f"Camera(shape={tuple(self.intrinsics.shape[:-1])}, dtype={self.intrinsics.dtype})"

    def scale(self, factor: float) -> "Camera":
        """Camera of an image resized by factor: COLMAP pixel coordinates map as p -> p * factor.

        A feature map of stride s is the image seen by camera.scale(1 / s): its cell (i, j)
        is centred at COLMAP pixel ((j + 0.5) * s, (i + 0.5) * s) of the full image.
        """
        return Camera(self.intrinsics * factor, self.size * factor)

    def project(self, points_cam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Points (..., N, 3) in the camera frame -> pixels (..., N, 2), valid (..., N).

        Valid means in front of the camera (z > eps) and inside [0, w] x [0, h].
        """
        z = points_cam[..., 2]
        in_front = z > self.eps
        z_safe = torch.where(in_front, z, torch.full_like(z, self.eps))
        pixels = points_cam[..., :2] / z_safe[..., None] * self.f.unsqueeze(-2) + self.c.unsqueeze(-2)
        size = self.size.unsqueeze(-2)
        inside = ((pixels >= 0) & (pixels <= size)).all(-1)
        return pixels, in_front & inside

    def J_project(self, points_cam: torch.Tensor) -> torch.Tensor:
        """d pixels / d points_cam (..., N, 2, 3)."""
        x, y, z = points_cam.unbind(-1)
        z = torch.where(z.abs() > self.eps, z, torch.full_like(z, self.eps))
        fx = self.intrinsics[..., 0, None]
        fy = self.intrinsics[..., 1, None]
        zero = torch.zeros_like(x)
        J = torch.stack(
            [fx / z, zero, -fx * x / (z * z),
             zero, fy / z, -fy * y / (z * z)], dim=-1)
        return J.reshape(points_cam.shape[:-1] + (2, 3))
