"""Fixed image filters shared by the weight-free dense backbone (dsift) and GN-Net's gradient stem."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W) with replicate padding."""
    if sigma <= 0:
        return image
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = image.shape[1]
    horizontal = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    vertical = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    image = F.conv2d(F.pad(image, (radius, radius, 0, 0), mode="replicate"), horizontal, groups=channels)
    return F.conv2d(F.pad(image, (0, 0, radius, radius), mode="replicate"), vertical, groups=channels)


def orientation_directions(num_orientations: int) -> torch.Tensor:
    """Unit vectors (K, 2) = (cos, sin) of K directions evenly spread over the circle."""
    angles = torch.arange(num_orientations) * (2 * math.pi / num_orientations)
    return torch.stack([torch.cos(angles), torch.sin(angles)], -1)


def rectified_derivatives(grey: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Derivatives (B, K, H, W) of grey images (B, 1, H, W) along each of the K directions (central differences),
    negative parts set to zero."""
    d_row, d_col = torch.gradient(grey[:, 0], dim=(1, 2))
    derivatives = torch.einsum("kc,cbhw->bkhw", directions.to(grey.dtype), torch.stack([d_col, d_row]))
    return derivatives.clamp(min=0)
