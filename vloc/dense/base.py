"""The dense-feature backbone plug-in interface: an image -> a pyramid of L2-normalised feature maps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from vloc.plugins import Plugin


@dataclass
class DenseLevel:
    """One pyramid level: features (C, H, W) and the stride (2,) = (sx, sy) of a cell in image pixels.

    Cell (i, j) is centred at the COLMAP pixel ((j + 0.5) sx, (i + 0.5) sy), see vloc.dense.interpolation.
    """

    features: torch.Tensor
    stride: torch.Tensor


def l2_normalize(features: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-pixel L2 normalisation of (C, H, W) maps; eps keeps textureless cells near zero
    instead of amplifying noise."""
    return features / torch.sqrt((features**2).sum(0, keepdim=True) + eps**2)


def normalized_level(features: torch.Tensor, width: int, height: int) -> DenseLevel:
    """The level of a raw (C, h, w) map computed from a width x height image: L2-normalised, with its exact strides."""
    stride = torch.tensor([width / features.shape[-1], height / features.shape[-2]], dtype=torch.float64)
    return DenseLevel(l2_normalize(features), stride)


class DenseBackbone(Plugin):
    """A dense backbone: `default_conf` (a dataclass), `_init` and `_forward` on one image.

    `_forward` takes a float image (1, C, H, W) in [0, 1] and returns [(features (D, h, w), stride)]
    from the coarsest to the finest level; `__call__` normalises them and measures the exact strides.
    """

    grayscale: ClassVar[bool] = True

    def _forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> list[DenseLevel]:
        tensor = torch.from_numpy(np.ascontiguousarray(image)).float() / 255.0
        tensor = tensor[None, None] if tensor.dim() == 2 else tensor.permute(2, 0, 1)[None]
        height, width = tensor.shape[-2:]
        return [normalized_level(features.float(), width, height) for features in self._forward(tensor)]
