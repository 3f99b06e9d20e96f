"""Fixed image filters shared by the dense backbones (dsift's levels, gnnet's pooled levels) and training
augmentation."""

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


def blur_downsample(image: torch.Tensor, factor: float, sigma: float) -> torch.Tensor:
    """(B, C, H, W) blurred by `sigma` pixels (none if 0),
    then area-resampled to round(H / factor) x round(W / factor)."""
    height, width = image.shape[-2:]
    size = (max(1, round(height / factor)), max(1, round(width / factor)))
    return F.interpolate(gaussian_blur(image, sigma), size=size, mode="area")
