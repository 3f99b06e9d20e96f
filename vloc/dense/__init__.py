"""Registry of dense-feature backbones for feature-metric refinement and sparse-to-dense matching."""

from __future__ import annotations

from ..config import lookup
from .base import DenseBackbone, DenseLevel
from .gnnet import GNNetBackbone
from .orientation_histograms import OrientationHistograms
from .vgg16 import VGG16Hypercolumns

DENSE_BACKBONES: dict[str, type[DenseBackbone]] = {
    "dsift": OrientationHistograms,
    "gnnet": GNNetBackbone,
    "s2dhm-vgg16": VGG16Hypercolumns,
}


def get_dense_backbone(name: str) -> type[DenseBackbone]:
    return lookup(DENSE_BACKBONES, name, "dense backbone")


__all__ = ["DenseBackbone", "DenseLevel", "get_dense_backbone"]
