"""`dsift`: weight-free dense features, DAISY / dense-SIFT-like smoothed gradient-orientation histograms.

At each level the image is blurred and area-downsampled to the level's stride; rectified directional
derivatives in B orientations are Gaussian-pooled, sampled at the cell and at four neighbours on a ring,
and concatenated (B x 5 channels). Invariant to brightness offsets, and after normalisation to gain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vloc.dense.base import DenseBackbone
from vloc.dense.filters import blur_downsample, gaussian_blur


@dataclass(frozen=True)
class OrientationHistogramsConf:
    strides: tuple[int, ...] = (16, 8, 4, 2, 1)  # coarse to fine, in pixels of the (resized) image
    num_orientations: int = 8
    pool_sigma: float = 1.0  # Gaussian pooling of the histograms, in cells
    ring_radius: float = 3.0  # distance of the four neighbour samples, in cells (0: the cell alone)


def shift(maps: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """maps (1, C, H, W) sampled at (x + dx, y + dy), replicating the border."""
    r = max(abs(dx), abs(dy))
    padded = F.pad(maps, (r, r, r, r), mode="replicate")
    H, W = maps.shape[-2:]
    return padded[..., r + dy : r + dy + H, r + dx : r + dx + W]


class OrientationHistograms(DenseBackbone):
    default_conf = OrientationHistogramsConf()

    def _init(self, conf: OrientationHistogramsConf) -> None:
        angles = torch.arange(conf.num_orientations) * (2 * math.pi / conf.num_orientations)
        self.directions = torch.stack([torch.cos(angles), torch.sin(angles)], -1)  # (B, 2)

    def level(self, image: torch.Tensor, stride: int) -> torch.Tensor:
        """Features (B x 5, H / stride, W / stride) of a grey image (1, 1, H, W)."""
        conf = self.conf
        small = blur_downsample(image, stride, 0.5 * stride if stride > 1 else 0.0)
        d_row, d_col = torch.gradient(small[0, 0])
        derivatives = torch.einsum("bk,khw->bhw", self.directions, torch.stack([d_col, d_row]))
        histograms = gaussian_blur(derivatives.clamp(min=0)[None], conf.pool_sigma)
        r = int(round(conf.ring_radius))
        offsets = [(0, 0)] + ([(r, 0), (-r, 0), (0, r), (0, -r)] if r > 0 else [])
        return torch.cat([shift(histograms, dx, dy) for dx, dy in offsets], 1)[0]

    def _forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        grey = image.mean(1, keepdim=True) if image.shape[1] == 3 else image
        return [self.level(grey, stride) for stride in self.conf.strides]
