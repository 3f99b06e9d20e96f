"""Batched camera with COLMAP pixel convention (pixel centres at +0.5) and COLMAP's OPENCV distortion.

A 3D point (x, y, z) in the camera frame has normalised coordinates (a, b) = (x / z, y / z); with r2 = a^2 + b^2,
radial = k1 r2 + k2 r2^2, the distorted ones are a' = a (1 + radial) + 2 p1 a b + p2 (r2 + 2 a^2) and
b' = b (1 + radial) + 2 p2 a b + p1 (r2 + 2 b^2), and the pixel is u = fx a' + cx, v = fy b' + cy. Pinhole cameras
have k1 = k2 = p1 = p2 = 0. The image covers [0, w] x [0, h]; pixel (col j, row i) is centred at (j + 0.5, i + 0.5).
"""

from __future__ import annotations

import torch

from vloc.errors import ConfigError

# COLMAP models as (fx, fy, cx, cy, k1, k2, p1, p2): the index of each of those in the model's params, None for 0.
_PARAMETER_INDICES = {
    "SIMPLE_PINHOLE": (0, 0, 1, 2, None, None, None, None),
    "PINHOLE": (0, 1, 2, 3, None, None, None, None),
    "SIMPLE_RADIAL": (0, 0, 1, 2, 3, None, None, None),
    "RADIAL": (0, 0, 1, 2, 3, 4, None, None),
    "OPENCV": (0, 1, 2, 3, 4, 5, 6, 7),
}


class Camera:
    """Intrinsics (..., 4) = (fx, fy, cx, cy), image size (..., 2) = (w, h), distortion (..., 4) = (k1, k2, p1, p2)."""

    eps = 1e-4  # minimum depth of a valid projection

    def __init__(self, intrinsics: torch.Tensor, size: torch.Tensor, distortion: torch.Tensor | None = None):
        distortion = torch.zeros_like(intrinsics) if distortion is None else distortion.to(intrinsics)
        if intrinsics.shape[-1] != 4 or size.shape[-1] != 2 or distortion.shape != intrinsics.shape:
            raise ValueError(
                f"Bad camera shapes {tuple(intrinsics.shape)}, {tuple(size.shape)}, {tuple(distortion.shape)}"
            )
        self.intrinsics = intrinsics
        self.size = size.to(intrinsics)
        self.distortion = distortion

    @classmethod
    def from_pycolmap(cls, camera, dtype=torch.float64, device=None) -> Camera:
        """From a pycolmap.Camera of model SIMPLE_PINHOLE, PINHOLE, SIMPLE_RADIAL, RADIAL or OPENCV."""
        model = camera.model.name
        if model not in _PARAMETER_INDICES:
            raise ConfigError(f"Camera model {model} is not supported, use one of {', '.join(_PARAMETER_INDICES)}.")
        params = [float(p) for p in camera.params]
        values = [0.0 if i is None else params[i] for i in _PARAMETER_INDICES[model]]
        intrinsics, distortion = torch.tensor(values, dtype=dtype, device=device).split(4)
        size = torch.tensor([camera.width, camera.height], dtype=dtype, device=device)
        return cls(intrinsics, size, distortion)

    def to_pycolmap(self):
        """To a pycolmap.Camera (PINHOLE, or OPENCV when distorted); only for an unbatched camera."""
        import pycolmap

        if self.intrinsics.dim() != 1:
            raise ValueError("to_pycolmap needs an unbatched camera")
        w, h = (int(round(float(s))) for s in self.size)
        distorted = bool(self.distortion.any())
        params = [float(p) for p in (torch.cat([self.intrinsics, self.distortion]) if distorted else self.intrinsics)]
        return pycolmap.Camera(model="OPENCV" if distorted else "PINHOLE", width=w, height=h, params=params)

    @property
    def f(self) -> torch.Tensor:
        return self.intrinsics[..., :2]

    @property
    def c(self) -> torch.Tensor:
        return self.intrinsics[..., 2:]

    def __getitem__(self, index) -> Camera:
        return Camera(self.intrinsics[index], self.size[index], self.distortion[index])

    def __repr__(self) -> str:
        return f"Camera(shape={tuple(self.intrinsics.shape[:-1])}, dtype={self.intrinsics.dtype})"

    def scale(self, factor: float) -> Camera:
        """Camera of an image resized by factor: COLMAP pixel coordinates map as p -> p * factor.

        A feature map of stride s is the image seen by camera.scale(1 / s): its cell (i, j)
        is centred at COLMAP pixel ((j + 0.5) * s, (i + 0.5) * s) of the full image.
        """
        return Camera(self.intrinsics * factor, self.size * factor, self.distortion)

    def project(self, points_cam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Points (..., N, 3) in the camera frame -> pixels (..., N, 2), valid (..., N).

        Valid means in front of the camera (z > eps) and inside [0, w] x [0, h].
        """
        z = points_cam[..., 2]
        in_front = z > self.eps
        z_safe = torch.where(in_front, z, torch.full_like(z, self.eps))
        normalized = points_cam[..., :2] / z_safe[..., None]
        pixels = self.distort(normalized) * self.f.unsqueeze(-2) + self.c.unsqueeze(-2)
        size = self.size.unsqueeze(-2)
        inside = ((pixels >= 0) & (pixels <= size)).all(-1)
        return pixels, in_front & inside & self.radially_monotonic(normalized)

    def radially_monotonic(self, normalized: torch.Tensor) -> torch.Tensor:
        """Where the radial distortion r (1 + k1 r^2 + k2 r^4) still grows with r (..., N): beyond, points far outside
        the field of view fold back into the image."""
        r2 = (normalized * normalized).sum(-1)
        k1, k2 = (d[..., None] for d in self.distortion[..., :2].unbind(-1))
        return 1 + 3 * k1 * r2 + 5 * k2 * r2 * r2 > 0

    def distort(self, normalized: torch.Tensor) -> torch.Tensor:
        """Normalised coordinates (..., N, 2) -> distorted normalised coordinates (..., N, 2)."""
        k1, k2, p1, p2 = (d[..., None] for d in self.distortion.unbind(-1))
        a, b = normalized.unbind(-1)
        r2 = a * a + b * b
        radial_scale = 1 + k1 * r2 + k2 * r2 * r2
        return torch.stack(
            [
                a * radial_scale + 2 * p1 * a * b + p2 * (r2 + 2 * a * a),
                b * radial_scale + 2 * p2 * a * b + p1 * (r2 + 2 * b * b),
            ],
            -1,
        )

    def J_distort(self, normalized: torch.Tensor) -> torch.Tensor:
        """d distorted / d normalised (..., N, 2, 2)."""
        k1, k2, p1, p2 = (d[..., None] for d in self.distortion.unbind(-1))
        a, b = normalized.unbind(-1)
        r2 = a * a + b * b
        radial_scale = 1 + k1 * r2 + k2 * r2 * r2
        d_scale = 2 * (k1 + 2 * k2 * r2)  # d radial_scale / d a = a d_scale, likewise for b
        J = torch.stack(
            [
                radial_scale + a * a * d_scale + 2 * p1 * b + 6 * p2 * a,
                a * b * d_scale + 2 * p1 * a + 2 * p2 * b,
                a * b * d_scale + 2 * p2 * b + 2 * p1 * a,
                radial_scale + b * b * d_scale + 2 * p2 * a + 6 * p1 * b,
            ],
            -1,
        )
        return J.reshape(normalized.shape[:-1] + (2, 2))

    def J_project(self, points_cam: torch.Tensor) -> torch.Tensor:
        """d pixels / d points_cam (..., N, 2, 3)."""
        x, y, z = points_cam.unbind(-1)
        z = torch.where(z.abs() > self.eps, z, torch.full_like(z, self.eps))
        zero = torch.zeros_like(x)
        J_normalize = torch.stack([1 / z, zero, -x / (z * z), zero, 1 / z, -y / (z * z)], -1)
        J_normalize = J_normalize.reshape(points_cam.shape[:-1] + (2, 3))
        J_distort = self.J_distort(torch.stack([x / z, y / z], -1))
        return self.f[..., None, :, None] * (J_distort @ J_normalize)
